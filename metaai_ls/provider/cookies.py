"""The account's cookies: from an explicit file, else from the user's browsers.

Values are secrets: nothing here logs or raises with a cookie value in it.
"""

from __future__ import annotations

import json
import logging
import os
import re
import threading
import time
from collections.abc import Callable, Iterable

from metaai_ls.redact import remember_all

from .errors import CookieFileError, LoginRequiredError
from .files import read_small_file, world_readable

Cookies = dict[str, str]
CONTROL = re.compile("[\x00-\x08\x0a-\x1f\x7f]")  # a tab is allowed in header values

logger = logging.getLogger(__name__)

MAX_COOKIE_FILE_BYTES = 1 << 20
BROWSER_CACHE_SECONDS = 300.0

_cache_lock = threading.Lock()
_browser_cache: dict[str, tuple[float, Cookies]] = {}


def get_cookies(
    domain: str, raise_requirements_error: bool = True, single_browser: bool = False
) -> Cookies:
    """Cookies for ``domain``: ``METAAI_COOKIES`` first, then the installed browsers.

    Blocking (browser-cookie3 decrypts browser databases): call it off the event loop.
    """
    if path := os.environ.get("METAAI_COOKIES"):
        return load_cookie_file(path, domain)
    cookies = _browser_cookies(domain, single_browser)
    if not cookies and raise_requirements_error:
        raise LoginRequiredError(f"No cookies for {domain} were found in your browsers.")
    return cookies


def forget_cookies() -> None:
    """Drop browser cookies read earlier, after Meta AI refused them."""
    with _cache_lock:
        _browser_cache.clear()


def load_cookie_file(path: str, domain: str = ".meta.ai") -> Cookies:
    """Read a JSON object, a browser-export JSON list or a Netscape cookies.txt."""
    text = _read_text(path)
    stripped = text.lstrip()
    if not stripped:
        raise CookieFileError(path, "is empty")
    if stripped[0] in "[{":
        cookies = _parse_json_cookies(path, stripped, domain)
    else:
        cookies = _parse_netscape_cookies(path, text, domain)
    if not cookies:
        raise CookieFileError(path, f"holds no cookies for {domain}")
    remember_all(cookies.values())
    if bad := unsendable(cookies):
        raise CookieFileError(
            path,
            f"has a cookie ({bad}) holding a line break or another control character, which "
            "no request can carry (a copy-paste across lines?)",
        )
    return cookies


def unsendable(cookies: Cookies) -> str | None:
    """The name (shortened) of a cookie no HTTP header can carry, or None."""
    for name, value in cookies.items():
        if CONTROL.search(name) or CONTROL.search(value):
            return repr(CONTROL.sub("?", name)[:40])
    return None


def _read_text(path: str) -> str:
    data = read_small_file(path, MAX_COOKIE_FILE_BYTES)
    if world_readable(path):
        logger.warning(
            "the cookie file %s can be read by other users of this machine; "
            "`chmod 600` it: it holds your meta.ai login",
            path,
        )
    if b"\0" in data:
        raise CookieFileError(path, "is binary, not text")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise CookieFileError(path, "is not UTF-8 text") from None


def _domain_matches(cookie_domain: str | None, domain: str) -> bool:
    if not cookie_domain:
        return True
    bare = domain.lstrip(".")
    cookie_domain = cookie_domain.lstrip(".")
    return cookie_domain == bare or cookie_domain.endswith("." + bare)


def _parse_json_cookies(path: str, text: str, domain: str) -> Cookies:
    try:
        data = json.loads(text)
    except ValueError as error:
        # The position only, never the excerpt: the text may hold cookie values.
        raise CookieFileError(
            path, f"is not valid JSON (line {getattr(error, 'lineno', '?')})"
        ) from None
    if isinstance(data, dict):
        if not all(isinstance(v, str) for v in data.values()):
            raise CookieFileError(path, "is a JSON object whose values are not all strings")
        return dict(data)
    return _cookies_from_export(path, data, domain)  # text starting with "[" is a list


def _cookies_from_export(path: str, items: list, domain: str) -> Cookies:
    cookies: Cookies = {}
    for index, item in enumerate(items):
        if not (isinstance(item, dict) and isinstance(item.get("name"), str)):
            raise CookieFileError(path, f"has an entry without a name (entry {index + 1})")
        if not isinstance(item.get("value"), str):
            raise CookieFileError(path, f"has an entry without a string value (entry {index + 1})")
        if _domain_matches(item.get("domain"), domain):
            cookies[item["name"]] = item["value"]
    return cookies


def _parse_netscape_cookies(path: str, text: str, domain: str) -> Cookies:
    cookies: Cookies = {}
    for number, line in enumerate(text.splitlines(), start=1):
        if line.startswith("#HttpOnly_"):
            line = line[len("#HttpOnly_") :]
        elif not line.strip() or line.startswith("#"):
            continue
        fields = line.split("\t")
        if len(fields) != 7:
            raise CookieFileError(
                path, f"is neither JSON nor a Netscape cookies.txt (line {number})"
            )
        if _domain_matches(fields[0], domain):
            cookies[fields[5]] = fields[6]
    return cookies


def _browser_loaders() -> Iterable[tuple[str, Callable[..., object]]]:
    import browser_cookie3

    names = ["firefox", "chrome", "chromium", "brave", "edge", "opera", "vivaldi", "librewolf"]
    for name in names:
        if loader := getattr(browser_cookie3, name, None):
            yield name, loader


def _browser_cookies(domain: str, single_browser: bool) -> Cookies:
    with _cache_lock:
        cached = _browser_cache.get(domain)
        if cached and time.monotonic() - cached[0] < BROWSER_CACHE_SECONDS:
            return dict(cached[1])
    cookies: Cookies = {}
    for name, loader in _browser_loaders():
        try:
            jar = loader(domain_name=domain)
        except Exception as error:  # a browser that is absent, locked or encrypted
            logger.debug("no cookies from %s: %s", name, type(error).__name__)
            continue
        found = {cookie.name: cookie.value for cookie in jar if cookie.value is not None}
        if found:
            logger.debug("read %d cookies for %s from %s", len(found), domain, name)
            cookies.update(found)
            if single_browser:
                break
    if cookies:
        remember_all(cookies.values())
        with _cache_lock:
            _browser_cache[domain] = (time.monotonic(), dict(cookies))
    return cookies
