"""What every door to Meta AI shares: one aiohttp session with the user's proxy and
time-outs, cookies sent by hand, and aiohttp's and asyncio's exceptions translated into
errors a person can act on.

aiohttp is imported when a transport opens, so that importing the provider stays cheap.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
from collections.abc import Callable, Iterator, Mapping
from typing import TYPE_CHECKING

from metaai_ls.redact import remember_all, remember_url_password

from .errors import (
    AnswerCutOffError,
    AskTimeoutError,
    ConnectionFailedError,
    GeoBlockedError,
    LoginExpiredError,
    MetaAIError,
    MetaAITimeoutError,
    ProxyConfigError,
    RateLimitedError,
    SomethingWentWrongError,
    UnexpectedResponseError,
)

REDIRECT_REFUSED = "the gateway redirected its WebSocket handshake"

if TYPE_CHECKING:
    import aiohttp

logger = logging.getLogger(__name__)

DEFAULT_CONNECT_TIMEOUT = 15.0
DEFAULT_READ_TIMEOUT = 60.0
DEFAULT_FIRST_TEXT_TIMEOUT = 300.0
DEFAULT_ASK_TIMEOUT = 900.0
REDIRECTS = (301, 302, 303, 307, 308)
ERROR_PAGE_MARK = "<h1>Something Went Wrong</h1>"


def float_env(name: str, default: float) -> float:
    try:
        value = float(os.environ.get(name) or default)
    except ValueError:
        logger.warning("%s is not a number; using %s seconds", name, default)
        return default
    return value if value > 0 else default


class Timeouts:
    """Connecting; the longest silence; the wait for a slow first answer (CONTRACT.md);
    and the whole ask, whatever keeps it busy meanwhile."""

    def __init__(
        self,
        connect: float | None = None,
        read: float | None = None,
        first_text: float | None = None,
        ask: float | None = None,
    ) -> None:
        self.connect = connect or float_env("METAAI_CONNECT_TIMEOUT", DEFAULT_CONNECT_TIMEOUT)
        self.read = read or float_env("METAAI_READ_TIMEOUT", DEFAULT_READ_TIMEOUT)
        self.first_text = first_text or float_env(
            "METAAI_FIRST_TEXT_TIMEOUT", DEFAULT_FIRST_TEXT_TIMEOUT
        )
        self.ask = ask or float_env("METAAI_ASK_TIMEOUT", DEFAULT_ASK_TIMEOUT)


class Transport:
    """One aiohttp session, open exactly as long as the ``async with`` block."""

    def __init__(
        self, proxy: str | None, timeouts: Timeouts, headers: Mapping[str, str], host: str
    ) -> None:
        self.proxy = proxy or None
        remember_url_password(self.proxy)
        remember_url_password(host)
        self.timeouts = timeouts
        self.headers = dict(headers)
        self.host = display_url(host)  # named in connection errors
        self.deadline = float("inf")  # when the whole ask must be over (set on entering)
        self._session: aiohttp.ClientSession | None = None

    async def __aenter__(self) -> Transport:
        self.deadline = time.monotonic() + self.timeouts.ask
        self._session = self.new_session()
        return self

    def new_session(self, follow_redirects: bool = True) -> aiohttp.ClientSession:
        """A session with the user's proxy and time-outs; the gateway's sockets own one
        each (they outlive an ask), and refuse every redirect."""
        import aiohttp

        connector = socks_connector(self.proxy) if is_socks(self.proxy) else None
        if self.proxy and connector is None:
            check_http_proxy(self.proxy)
        timeout = aiohttp.ClientTimeout(
            total=None,
            connect=self.timeouts.connect,
            sock_connect=self.timeouts.connect,
            sock_read=self.timeouts.read,
        )
        return aiohttp.ClientSession(
            headers=self.headers,
            timeout=timeout,
            connector=connector,
            cookie_jar=aiohttp.DummyCookieJar(),  # cookies are sent by hand, never stored
            read_bufsize=1 << 20,
            middlewares=() if follow_redirects else (refuse_redirects,),
        )

    def remaining(self) -> float:
        """Seconds left of the whole ask (METAAI_ASK_TIMEOUT)."""
        return self.deadline - time.monotonic()

    def request_timeout(self) -> aiohttp.ClientTimeout:
        """One HTTP request's time-outs, its whole length bounded by the ask's deadline
        (a page trickled byte by byte never ends the per-read time-out)."""
        import aiohttp

        return aiohttp.ClientTimeout(
            total=max(self.remaining(), 0.001),
            connect=self.timeouts.connect,
            sock_connect=self.timeouts.connect,
            sock_read=self.timeouts.read,
        )

    async def __aexit__(self, *exc_info: object) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    @property
    def session(self) -> aiohttp.ClientSession:
        if self._session is None:
            raise RuntimeError("use the transport inside `async with`")
        return self._session

    @property
    def http_proxy(self) -> str | None:
        """The proxy for aiohttp's own `proxy=` (SOCKS goes through the connector)."""
        return None if is_socks(self.proxy) else self.proxy

    @contextlib.contextmanager
    def errors(self, phase: str, received: Callable[[], int] | None = None) -> Iterator[None]:
        """aiohttp's and asyncio's exceptions as MetaAIErrors a person can act on.

        ``received`` tells how many characters of answer had arrived: a connection that
        breaks after some is a cut-off answer, not a connection failure.
        """
        import aiohttp

        try:
            yield
        except MetaAIError:
            raise
        except aiohttp.ConnectionTimeoutError:
            if self.remaining() <= 0:
                raise AskTimeoutError(self.timeouts.ask, phase) from None
            raise MetaAITimeoutError(self.timeouts.connect, "connecting, " + phase) from None
        except (TimeoutError, asyncio.TimeoutError):
            if self.remaining() <= 0:
                raise AskTimeoutError(self.timeouts.ask, phase) from None
            raise MetaAITimeoutError(self.timeouts.read, phase) from None
        except aiohttp.ClientConnectorError as error:
            raise ConnectionFailedError(
                f"{error.host}:{error.port}", error.strerror or type(error).__name__
            ) from None
        except (aiohttp.ClientPayloadError, aiohttp.ServerDisconnectedError) as error:
            if received is not None and received():
                raise AnswerCutOffError(received()) from None
            raise ConnectionFailedError(self.host, type(error).__name__) from None
        except aiohttp.InvalidURL:
            raise ProxyConfigError("or a Meta AI URL is not a valid URL") from None
        except aiohttp.ClientError as error:
            raise ConnectionFailedError(self.host, type(error).__name__) from None


class TransportClient:
    """A provider whose ``transport`` is open exactly as long as its ``async with`` block."""

    transport: Transport

    async def __aenter__(self):  # -> the provider itself
        await self.transport.__aenter__()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.transport.__aexit__(*exc_info)


def cookie_header(cookies: Mapping[str, str] | None) -> dict[str, str]:
    if not cookies:
        return {}
    remember_all(cookies.values())  # every cookie sent is a secret, wherever it came from
    return {"cookie": "; ".join(f"{name}={value}" for name, value in cookies.items())}


def check_status(
    status: int, body: str, with_login: bool, headers: Mapping[str, str], on_login_refused=None
) -> None:
    """Raise the typed error for a failed HTTP answer of the web host."""
    if status < 400 and ERROR_PAGE_MARK not in body:
        return
    if status == 429:
        raise RateLimitedError(headers.get("retry-after"))
    if status in (401, 403) and with_login:
        if on_login_refused is not None:
            on_login_refused()
        raise LoginExpiredError(status)
    if "AbraGeoBlockedError" in body:
        raise GeoBlockedError()
    if ERROR_PAGE_MARK in body:
        raise SomethingWentWrongError()
    raise UnexpectedResponseError(f"HTTP {status}")


def is_socks(proxy: str | None) -> bool:
    return bool(proxy) and proxy.lower().startswith("socks")


def check_http_proxy(proxy: str) -> None:
    from yarl import URL

    try:
        url = URL(proxy)
    except (ValueError, TypeError):
        raise ProxyConfigError("is not a URL") from None
    if url.scheme not in ("http", "https") or not url.host:
        raise ProxyConfigError("is not an http://, https:// or socks5:// URL")


def socks_connector(proxy: str) -> aiohttp.BaseConnector:
    try:
        from aiohttp_socks import ProxyConnector
    except ImportError:
        raise ProxyConfigError("is a SOCKS proxy, which needs aiohttp-socks installed") from None
    try:
        return ProxyConnector.from_url(proxy)
    except ValueError:
        raise ProxyConfigError("is not a valid SOCKS URL") from None


async def refuse_redirects(request, handler):
    """aiohttp middleware: a redirect is never followed. The gateway's handshake carries
    the access token in its query; a redirect elsewhere, or to plain http, would hand
    it over."""
    response = await handler(request)
    if response.status in REDIRECTS:
        target = response.headers.get("Location", "")
        response.close()
        raise RedirectRefusedError(origin_of(target) or "an unnamed place")
    return response


class RedirectRefusedError(ConnectionFailedError):
    def __init__(self, target: str) -> None:
        MetaAIError.__init__(
            self,
            f"Meta AI's gateway redirected the connection to {target}, which metaai-ls "
            "does not follow with your access token (it never leaves the configured host "
            "or drops to plain http). Check METAAI_GATEWAY_URL (or `gatewayUrl`).",
        )


def origin_of(url: str) -> str:
    """scheme://host[:port] of a URL, without user, password, path or query."""
    from yarl import URL

    try:
        parsed = URL(url)
    except (ValueError, TypeError):
        return ""
    if not parsed.scheme or not parsed.host:
        return ""
    origin = f"{parsed.scheme}://{parsed.host}"
    return origin if parsed.explicit_port is None else f"{origin}:{parsed.explicit_port}"


def display_url(url: str) -> str:
    """A URL as it may be shown or logged: its password (and user) left out."""
    from yarl import URL

    try:
        parsed = URL(url)
    except (ValueError, TypeError):
        return url
    return str(parsed.with_user(None)) if parsed.user or parsed.password else url
