"""The web host's home page: the challenge page solved, every Set-Cookie kept, and what the
page tells (the gateway's access token, the Abra dialect's LSD/DTSG tokens, a geo-block)."""

from __future__ import annotations

import dataclasses
import hashlib
import re
import threading
import time
from collections.abc import Mapping

from metaai_ls.redact import remember, remember_all

from .errors import ClientChangedError, GeoBlockedError
from .identifiers import Identifiers
from .transport import Transport, check_status, cookie_header


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
                page.text = await response.text(errors="replace")
                _keep_cookies(page.cookies, response.cookies)
                status, headers = response.status, response.headers
        challenge = re.search(ids["web"]["challenge_pattern"], page.text)
        if status == 403 and challenge:
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
            await response.read()
            _keep_cookies(page.cookies, response.cookies)
    page.challenge_solved = True


def _keep_cookies(cookies: dict[str, str], received) -> None:
    for name, morsel in received.items():
        remember(morsel.value)
        cookies[name] = morsel.value


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
