"""The web host's home page: the challenge page solved, every Set-Cookie kept, and what the
page tells (the gateway's access token, the Abra dialect's LSD/DTSG tokens, a geo-block)."""

from __future__ import annotations

import dataclasses
import hashlib
import logging
import re
import threading
import time
from collections.abc import Mapping

from metaai_ls.redact import remember, remember_all

from .errors import NO_TOKEN, ClientChangedError, GeoBlockedError, LoginExpiredError
from .identifiers import Identifiers
from .transport import (
    MAX_COOKIE_BYTES,
    MAX_COOKIES,
    MAX_ERROR_BYTES,
    MAX_PAGE_BYTES,
    Transport,
    check_status,
    cookie_header,
    read_capped,
    read_text,
)

logger = logging.getLogger(__name__)


@dataclasses.dataclass
class HomePage:
    text: str
    cookies: dict[str, str]  # the user's cookies and every cookie the host set
    challenge_solved: bool = False

    def access_token(self, ids: Identifiers) -> str | None:
        match = re.search(ids["web"]["access_token_pattern"], self.text)
        token = match.group(1) if match else None
        remember(token)
        return token

    def require_token(self, ids: Identifiers) -> str:
        """The access token; without one, a page that still mentions it in a shape no
        pattern knows means Meta changed its page (not a lost login)."""
        if token := self.access_token(ids):
            return token
        if self.mentions_token(ids):
            raise ClientChangedError(
                "the home page holds the access token in a shape metaai-ls does not know"
            )
        raise LoginExpiredError(reason=NO_TOKEN)

    def mentions_token(self, ids: Identifiers) -> bool:
        return any(word in self.text for word in ids["web"]["access_token_mentions"])

    def viewer_id(self, ids: Identifiers) -> int | None:
        """The account's id as the page tells it (the prompt message carries it)."""
        match = re.search(ids["web"]["viewer_id_pattern"], self.text)
        return int(match.group(1)) if match else None

    def abra_tokens(self) -> tuple[str | None, str | None]:
        tokens = (
            extract_value(self.text, '"LSD",[],{"token":"', '"}'),
            extract_value(self.text, '"DTSGInitialData",[],{"token":"', '"}'),
        )
        remember_all(tokens)
        return tokens


def extract_value(text: str, start: str, end: str = '",') -> str | None:
    begin = text.find(start)
    if begin < 0:
        return None
    begin += len(start)
    stop = text.find(end, begin)
    return text[begin:stop] if stop >= 0 else None


async def load_home(
    transport: Transport,
    web_url: str,
    cookies: Mapping[str, str] | None,
    ids: Identifiers,
    on_login_refused=None,
) -> HomePage:
    """GET the home page, solving the challenge page once if the host shows it."""
    page = HomePage("", dict(cookies or {}))
    for attempt in range(2):
        with transport.errors("loading the home page"):
            async with transport.session.get(
                web_url + "/",
                headers=cookie_header(page.cookies),
                proxy=transport.http_proxy,
                timeout=transport.request_timeout(),
            ) as response:
                page.text = await read_text(response, MAX_PAGE_BYTES, "Meta AI's home page")
                _keep_cookies(page.cookies, response.cookies)
                status, headers = response.status, response.headers
        # Solved whenever the page holds the verify script: its status (403 or 200) is
        # not reliable.
        challenge = re.search(ids["web"]["challenge_pattern"], page.text)
        if challenge:
            if attempt:
                raise ClientChangedError("the challenge page stays after it was solved")
            await _solve_challenge(transport, web_url, challenge.group(1), page)
            continue
        break
    if "AbraGeoBlockedError" in page.text:
        raise GeoBlockedError()
    check_status(status, page.text, bool(cookies), headers, on_login_refused)
    return page


async def _solve_challenge(transport: Transport, web_url: str, path: str, page: HomePage) -> None:
    headers = {
        **cookie_header(page.cookies),
        "accept": "*/*",
        "origin": web_url,
        "referer": web_url + "/",
    }
    with transport.errors("answering the challenge page"):
        async with transport.session.post(
            web_url + path,
            data=b"",
            headers=headers,
            proxy=transport.http_proxy,
            timeout=transport.request_timeout(),
        ) as response:
            await read_capped(response, MAX_ERROR_BYTES, "the challenge page's answer")
            _keep_cookies(page.cookies, response.cookies)
    page.challenge_solved = True


def _keep_cookies(cookies: dict[str, str], received) -> None:
    """Keep the cookies the host set, as a browser would: each under 4 KiB, a bounded
    number in all (the rest is dropped, so requests stay small)."""
    dropped = 0
    for name, morsel in received.items():
        value = morsel.value
        remember(value)
        fits = len(name) + len(value) <= MAX_COOKIE_BYTES
        if fits and (name in cookies or len(cookies) < MAX_COOKIES):
            cookies[name] = value
        else:
            dropped += 1
    if dropped:
        logger.info("dropped %d cookies the web host set (too many or too large)", dropped)


class TokenCache:
    """Access tokens by login, kept for at most ``max_age`` seconds (they live ~5 minutes).

    Keys are digests of the login cookie: no cookie value is held here.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._tokens: dict[str, tuple[float, str]] = {}

    @staticmethod
    def key(login: str) -> str:
        return hashlib.sha256(login.encode()).hexdigest()

    def get(self, key: str, max_age: float) -> str | None:
        with self._lock:
            found = self._tokens.get(key)
        if found and time.monotonic() - found[0] < max_age:
            return found[1]
        return None

    def age(self, key: str) -> float | None:
        """Seconds since the login's token was read, if one is cached."""
        with self._lock:
            found = self._tokens.get(key)
        return time.monotonic() - found[0] if found else None

    def put(self, key: str, token: str) -> None:
        remember(token)
        with self._lock:
            self._tokens[key] = (time.monotonic(), token)

    def forget(self, key: str) -> None:
        with self._lock:
            self._tokens.pop(key, None)


TOKENS = TokenCache()
VIEWER_IDS: dict[str, int] = {}  # by the token cache's key: the page's viewer id
