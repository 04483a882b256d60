"""The Meta AI providers: ``MetaAI`` (anonymous temporary user) and ``MetaAIAccount``.

aiohttp is imported on first use so that importing the provider stays cheap.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import logging
import os
import random
import time
import uuid
from collections.abc import AsyncIterator, Iterator, Mapping
from typing import TYPE_CHECKING, Any, ClassVar

from . import identifiers as ids
from .cookies import Cookies, forget_cookies, get_cookies
from .errors import (
    AnswerCutOffError,
    ConnectionFailedError,
    GeoBlockedError,
    LoginExpiredError,
    LoginRequiredError,
    MetaAIError,
    MetaAITimeoutError,
    ProxyConfigError,
    RateLimitedError,
    SomethingWentWrongError,
    UnexpectedResponseError,
)
from .prompt import Messages, format_prompt
from .results import ImageResponse, Source, Sources
from .stream import ERROR_PAGE, AnswerStream

if TYPE_CHECKING:
    import aiohttp

logger = logging.getLogger(__name__)

Result = str | ImageResponse | Sources

DEFAULT_CONNECT_TIMEOUT = 15.0
DEFAULT_READ_TIMEOUT = 60.0
HEADERS = {
    "user-agent": (
        "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/131.0 Safari/537.36"
    ),
    "accept-language": "en-US,en;q=0.9",
}


@dataclasses.dataclass
class Conversation:
    """A Meta AI conversation; pass the same one again to ask a follow-up."""

    id: str | None = None


@dataclasses.dataclass
class Tokens:
    lsd: str
    dtsg: str | None


def generate_offline_threading_id() -> str:
    """Milliseconds shifted left by 22 bits, OR 22 random bits, as the web client does."""
    return str((int(time.time() * 1000) << 22) | random.getrandbits(22))


def extract_value(text: str, start: str, end: str = '",') -> str | None:
    begin = text.find(start)
    if begin < 0:
        return None
    begin += len(start)
    stop = text.find(end, begin)
    return text[begin:stop] if stop >= 0 else None


def _float_env(name: str, default: float) -> float:
    try:
        return float(os.environ.get(name, default))
    except ValueError:
        logger.warning("%s is not a number; using %s seconds", name, default)
        return default


class MetaAI:
    """Meta AI as an anonymous temporary user (no account)."""

    label = "Meta AI"
    url = ids.DEFAULT_URL
    working = True
    needs_auth = False
    supports_stream = True
    default_model = "meta-ai"
    models: ClassVar[list[str]] = [default_model]

    def __init__(
        self,
        proxy: str | None = None,
        *,
        connect_timeout: float | None = None,
        read_timeout: float | None = None,
        identifiers: Mapping[str, Any] | None = None,
        url: str | None = None,
        graph_url: str | None = None,
    ) -> None:
        self.proxy = proxy or None
        self.connect_timeout = connect_timeout or _float_env(
            "METAAI_CONNECT_TIMEOUT", DEFAULT_CONNECT_TIMEOUT
        )
        self.read_timeout = read_timeout or _float_env("METAAI_READ_TIMEOUT", DEFAULT_READ_TIMEOUT)
        self.ids = ids.load_identifiers(identifiers)
        self.web_url = (url or ids.web_url()).rstrip("/")
        self.graph_url = (graph_url or ids.graph_url()).rstrip("/")
        self.cookies: Cookies | None = None
        self.access_token: str | None = None
        self.tokens: Tokens | None = None
        self._session: aiohttp.ClientSession | None = None

    # -- lifecycle: the session lives exactly as long as the ``async with`` block

    async def __aenter__(self) -> MetaAI:
        import aiohttp

        connector = _socks_connector(self.proxy) if _is_socks(self.proxy) else None
        if self.proxy and connector is None:
            _check_http_proxy(self.proxy)
        timeout = aiohttp.ClientTimeout(
            total=None,
            connect=self.connect_timeout,
            sock_connect=self.connect_timeout,
            sock_read=self.read_timeout,
        )
        self._session = aiohttp.ClientSession(
            headers=HEADERS,
            timeout=timeout,
            connector=connector,
            cookie_jar=aiohttp.DummyCookieJar(),
            read_bufsize=1 << 20,  # long cumulative lines: fewer flow-control pauses
        )
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    @property
    def session(self) -> aiohttp.ClientSession:
        if self._session is None:
            raise RuntimeError("use the provider inside `async with`")
        return self._session

    @classmethod
    async def create_async_generator(
        cls, model: str, messages: Messages, proxy: str | None = None, **kwargs: Any
    ) -> AsyncIterator[Result]:
        options, conversation = _split_options(kwargs)
        async with cls(proxy, **options) as client:
            async for chunk in client.prompt(format_prompt(messages), conversation=conversation):
                yield chunk

    # -- the protocol

    async def prompt(
        self,
        message: str,
        cookies: Cookies | None = None,
        conversation: Conversation | None = None,
    ) -> AsyncIterator[Result]:
        """Send ``message`` and yield the answer as deltas, then sources or images."""
        if self.tokens is None:
            await self.update_cookies(cookies)
        if cookies is None and self.access_token is None:
            await self.update_access_token()
        conversation = conversation if conversation is not None else Conversation()
        conversation.id = conversation.id or str(uuid.uuid4())
        stream = AnswerStream()
        with self._translate_errors("while Meta AI was answering", stream):
            async for result in self._send(message, conversation.id, stream):
                yield result
        if stream.fetch_id is not None and (sources := await self.fetch_sources(stream.fetch_id)):
            yield sources

    async def update_cookies(self, cookies: Cookies | None = None) -> None:
        """Read the home page: the LSD/DTSG tokens, and a visitor's cookies."""
        with self._translate_errors("loading the home page"):
            async with self.session.get(
                self.web_url + "/", headers=self._cookie_header(cookies), proxy=self._http_proxy
            ) as response:
                text = await response.text(errors="replace")
                self._check_status(response.status, text, cookies is not None, response.headers)
        if "AbraGeoBlockedError" in text:
            raise GeoBlockedError()
        lsd = extract_value(text, '"LSD",[],{"token":"', '"}')
        if not lsd:
            raise UnexpectedResponseError("the home page has no LSD token")
        self.tokens = Tokens(lsd, extract_value(text, '"DTSGInitialData",[],{"token":"', '"}'))
        if cookies is None:
            names = ("_js_datr", "abra_csrf", "datr")
            # The leading quote keeps "datr" from matching inside "_js_datr".
            found = {name: extract_value(text, f'"{name}":{{"value":"') for name in names}
            cookies = {name: value for name, value in found.items() if value}
        self.cookies = cookies

    async def update_access_token(self) -> None:
        """Accept the terms as a temporary user and keep its access token."""
        tokens = self._require_tokens()
        form = {
            "lsd": tokens.lsd,
            "fb_api_caller_class": "RelayModern",
            "fb_api_req_friendly_name": self.ids.accept_tos_name,
            "variables": json.dumps(
                {
                    "dob": self.ids.temp_user_birthday,
                    "icebreaker_type": "TEXT",
                    "__relay_internal__pv__WebPixelRatiorelayprovider": 1,
                }
            ),
            "doc_id": self.ids.accept_tos_doc_id,
        }
        headers = {
            **self._cookie_header(self.cookies),
            "x-fb-friendly-name": self.ids.accept_tos_name,
            "x-fb-lsd": tokens.lsd,
            "x-asbd-id": self.ids.asbd_id,
        }
        url = self.web_url + self.ids.web_graphql_path
        with self._translate_errors("creating a temporary user"):
            async with self.session.post(
                url, data=form, headers=headers, proxy=self._http_proxy
            ) as response:
                text = await response.text(errors="replace")
                self._check_status(response.status, text, False, response.headers)
        try:
            data = json.loads(text)
            auth = data["data"]["xab_abra_accept_terms_of_service"]["new_temp_user_auth"]
            self.access_token = auth["access_token"]
        except (ValueError, KeyError, TypeError):
            raise UnexpectedResponseError("no access token for the temporary user") from None

    async def fetch_sources(self, fetch_id: str) -> Sources | None:
        """The references of a search-backed answer; None when there are none."""
        url, form, headers = self._request(self.ids.sources_name, self.ids.sources_doc_id)
        form["variables"] = json.dumps({"abraMessageFetchID": fetch_id})
        try:
            async with self.session.post(
                url, data=form, headers=headers, proxy=self._http_proxy
            ) as response:
                if response.status >= 400:
                    logger.warning("sources: HTTP %s", response.status)
                    return None
                data = json.loads(await response.text(errors="replace"))
            references = data["data"]["message"]["searchResults"]["references"]
        except (ValueError, KeyError, TypeError):
            return None  # no sources for this answer
        except Exception as error:  # the answer is complete; sources are a bonus
            logger.warning("could not fetch sources: %s", type(error).__name__)
            return None
        sources = tuple(
            Source(str(ref.get("title") or ""), str(ref["link"]))
            for ref in references
            if isinstance(ref, dict) and ref.get("link")
        )
        return Sources(sources) if sources else None

    # -- helpers

    async def _send(
        self, message: str, conversation_id: str, stream: AnswerStream
    ) -> AsyncIterator[Result]:
        url, form, headers = self._request(self.ids.send_message_name, self.ids.send_message_doc_id)
        form["variables"] = json.dumps(self._send_variables(message, conversation_id))
        logger.debug("sending a prompt of %d characters to %s", len(message), url)
        async with self.session.post(
            url, data=form, headers=headers, proxy=self._http_proxy
        ) as response:
            if response.status >= 400:
                body = await response.text(errors="replace")
                self._check_status(
                    response.status, body, self.access_token is None, response.headers
                )
            async for line in _lines(response.content):
                for result in stream.feed(line):
                    yield result
        if not stream.done:
            raise AnswerCutOffError(stream.length)

    def _send_variables(self, message: str, conversation_id: str) -> dict[str, Any]:
        return {
            "message": {"sensitive_string_value": message},
            "externalConversationId": conversation_id,
            "offlineThreadingId": generate_offline_threading_id(),
            "suggestedPromptIndex": None,
            "flashVideoRecapInput": {"images": []},
            "flashPreviewInput": None,
            "promptPrefix": None,
            "entrypoint": self.ids.entrypoint,
            "icebreaker_type": "TEXT",
            "__relay_internal__pv__AbraDebugDevOnlyrelayprovider": False,
            "__relay_internal__pv__WebPixelRatiorelayprovider": 1,
        }

    def _request(self, friendly_name: str, doc_id: str) -> tuple[str, dict, dict]:
        """URL, form and headers for a GraphQL call, as the account or the temp user."""
        headers = {
            **self._cookie_header(self.cookies),
            "origin": self.web_url,
            "referer": self.web_url + "/",
            "x-asbd-id": self.ids.asbd_id,
            "x-fb-friendly-name": friendly_name,
        }
        if self.access_token is None:
            tokens = self._require_tokens()
            url = self.web_url + self.ids.web_graphql_path
            form = {"lsd": tokens.lsd, "fb_dtsg": tokens.dtsg or ""}
            headers["x-fb-lsd"] = tokens.lsd
        else:
            url = self.graph_url + self.ids.graph_graphql_path
            form = {"access_token": self.access_token}
        form |= {
            "fb_api_caller_class": "RelayModern",
            "fb_api_req_friendly_name": friendly_name,
            "server_timestamps": "true",
            "doc_id": doc_id,
        }
        return url, form, headers

    def _require_tokens(self) -> Tokens:
        if self.tokens is None:
            raise RuntimeError("update_cookies() must run first")
        return self.tokens

    @staticmethod
    def _cookie_header(cookies: Cookies | None) -> dict[str, str]:
        if not cookies:
            return {}
        return {"cookie": "; ".join(f"{name}={value}" for name, value in cookies.items())}

    @property
    def _http_proxy(self) -> str | None:
        return None if _is_socks(self.proxy) else self.proxy

    def _check_status(
        self, status: int, body: str, with_login: bool, headers: Mapping[str, str]
    ) -> None:
        if status < 400 and ERROR_PAGE.decode() not in body:
            return
        if status == 429:
            raise RateLimitedError(headers.get("retry-after"))
        if status in (401, 403) and with_login:
            forget_cookies()
            raise LoginExpiredError(status)
        if "AbraGeoBlockedError" in body:
            raise GeoBlockedError()
        if ERROR_PAGE.decode() in body:
            raise SomethingWentWrongError()
        raise UnexpectedResponseError(f"HTTP {status}")

    @contextlib.contextmanager
    def _translate_errors(self, phase: str, stream: AnswerStream | None = None) -> Iterator[None]:
        """aiohttp's and asyncio's exceptions as MetaAIErrors a person can act on."""
        import aiohttp

        try:
            yield
        except MetaAIError:
            raise
        except aiohttp.ConnectionTimeoutError:
            raise MetaAITimeoutError(self.connect_timeout, "connecting, " + phase) from None
        except (TimeoutError, asyncio.TimeoutError):
            raise MetaAITimeoutError(self.read_timeout, phase) from None
        except aiohttp.ClientConnectorError as error:
            raise ConnectionFailedError(
                f"{error.host}:{error.port}", error.strerror or type(error).__name__
            ) from None
        except (aiohttp.ClientPayloadError, aiohttp.ServerDisconnectedError) as error:
            if stream is not None and stream.length:
                raise AnswerCutOffError(stream.length) from None
            raise ConnectionFailedError(self.web_url, type(error).__name__) from None
        except aiohttp.InvalidURL:
            raise ProxyConfigError("or METAAI_URL is not a valid URL") from None
        except aiohttp.ClientError as error:
            raise ConnectionFailedError(self.web_url, type(error).__name__) from None


class MetaAIAccount(MetaAI):
    """Meta AI through the user's own meta.ai account (its browser cookies)."""

    needs_auth = True
    parent = "MetaAI"
    image_models: ClassVar[list[str]] = ["meta"]

    @classmethod
    async def create_async_generator(
        cls,
        model: str,
        messages: Messages,
        proxy: str | None = None,
        cookies: Cookies | None = None,
        **kwargs: Any,
    ) -> AsyncIterator[Result]:
        if cookies is None:
            # browser-cookie3 is slow and blocking: keep it off the event loop.
            cookies = await asyncio.to_thread(get_cookies, ".meta.ai", True, True)
        options, conversation = _split_options(kwargs)
        async with cls(proxy, **options) as client:
            login_cookie = client.ids.login_cookie
            if login_cookie not in cookies:
                raise LoginRequiredError(
                    f"The meta.ai cookies given hold no login (no `{login_cookie}` cookie)."
                )
            prompt = format_prompt(messages)
            async for chunk in client.prompt(prompt, cookies=cookies, conversation=conversation):
                yield chunk


_OPTIONS = ("connect_timeout", "read_timeout", "identifiers", "url", "graph_url")


def _split_options(kwargs: dict[str, Any]) -> tuple[dict[str, Any], Conversation | None]:
    """Constructor options and the conversation out of g4f-style ``**kwargs``.

    Unknown keyword arguments are ignored, as g4f providers do.
    """
    options = {name: kwargs[name] for name in _OPTIONS if kwargs.get(name) is not None}
    return options, kwargs.get("conversation")


async def _lines(content: aiohttp.StreamReader) -> AsyncIterator[bytes]:
    """Split the body on newlines as it arrives, with no limit on a line's length."""
    pending: list[bytes] = []
    async for chunk in content.iter_any():
        start = 0
        while (end := chunk.find(b"\n", start)) >= 0:
            if pending:
                pending.append(chunk[start:end])
                yield b"".join(pending)
                pending.clear()
            else:
                yield chunk[start:end]
            start = end + 1
        if start < len(chunk):
            pending.append(chunk[start:])
    if pending:
        yield b"".join(pending)


def _is_socks(proxy: str | None) -> bool:
    return bool(proxy) and proxy.lower().startswith("socks")


def _check_http_proxy(proxy: str) -> None:
    from yarl import URL

    try:
        url = URL(proxy)
    except (ValueError, TypeError):
        raise ProxyConfigError("is not a URL") from None
    if url.scheme not in ("http", "https") or not url.host:
        raise ProxyConfigError("is not an http://, https:// or socks5:// URL")


def _socks_connector(proxy: str) -> aiohttp.BaseConnector:
    try:
        from aiohttp_socks import ProxyConnector
    except ImportError:
        raise ProxyConfigError("is a SOCKS proxy, which needs aiohttp-socks installed") from None
    try:
        return ProxyConnector.from_url(proxy)
    except ValueError:
        raise ProxyConfigError("is not a valid SOCKS URL") from None
