"""The providers of the seed's interface, ``MetaAI`` (no account) and
``MetaAIAccount(MetaAI)``: they choose the dialect the site speaks and run one ask in it.

The dialects (``gateway.py`` today's, ``abra.py`` g4f's) share the transport
(``transport.py``) and the home page (``home.py``).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Mapping
from typing import Any, ClassVar, Protocol

from metaai_ls.redact import remember_url_password

from . import identifiers as ids
from .abra import AbraDialect
from .conversation import Conversation
from .cookies import Cookies, forget_cookies, get_cookies
from .errors import LoginRequiredError
from .gateway import GatewayDialect, pool_key
from .home import TOKENS, HomePage, load_home
from .identifiers import Identifiers
from .prompt import Messages, format_prompt
from .results import Result
from .sockets import POOL
from .transport import Timeouts, Transport, TransportClient, max_answer_chars

NO_ANONYMOUS = "Meta AI needs a meta.ai login today (no anonymous use)."


class Dialect(Protocol):
    name: str

    def ask(self, prompt: str, conversation: Conversation, model: str) -> AsyncIterator[Result]:
        """Send one prompt; yield the answer's deltas, then sources or images."""


class MetaAI(TransportClient):
    """Meta AI as an anonymous temporary user (the Abra dialect only)."""

    label = "Meta AI"
    url = ids.DEFAULT_URL
    working = True
    needs_auth = False
    supports_stream = True
    default_model = "fast"
    models: ClassVar[list[str]] = ["fast", "thinking"]

    def __init__(
        self,
        proxy: str | None = None,
        *,
        connect_timeout: float | None = None,
        read_timeout: float | None = None,
        first_text_timeout: float | None = None,
        ask_timeout: float | None = None,
        identifiers: Mapping[str, Any] | None = None,
        url: str | None = None,
        graph_url: str | None = None,
        gateway_url: str | None = None,
        protocol: str | None = None,
        max_answer_mb: float | None = None,
    ) -> None:
        self.ids = ids.load_identifiers(identifiers)
        self.protocol = ids.protocol(protocol)
        self.web_url = (url or ids.web_url()).rstrip("/")
        self.graph_url = (graph_url or ids.graph_url()).rstrip("/")
        self.gateway_url = gateway_url or ids.gateway_url(self.ids)
        remember_url_password(self.gateway_url)
        remember_url_password(self.graph_url)
        headers = {
            "user-agent": self.ids["user_agent"],
            "accept-language": self.ids["accept_language"],
        }
        self.transport = Transport(
            proxy,
            Timeouts(connect_timeout, read_timeout, first_text_timeout, ask_timeout),
            headers,
            self.web_url,
            max_answer_chars(max_answer_mb),
        )

    @classmethod
    async def create_async_generator(
        cls, model: str, messages: Messages, proxy: str | None = None, **kwargs: Any
    ) -> AsyncIterator[Result]:
        options, conversation = split_options(kwargs)
        async with cls(proxy, **options) as client:
            answer = await client.start(format_prompt(messages), None, conversation, model)
            async for chunk in answer:
                yield chunk

    async def prompt(
        self,
        message: str,
        cookies: Cookies | None = None,
        conversation: Conversation | None = None,
        model: str | None = None,
    ) -> AsyncIterator[Result]:
        """Send ``message``; yield the answer as deltas, then sources or images."""
        async for result in await self.start(message, cookies, conversation, model):
            yield result

    async def start(
        self,
        message: str,
        cookies: Cookies | None,
        conversation: Conversation | None,
        model: str | None,
    ) -> AsyncIterator[Result]:
        """The dialect's own answer generator: no layer of ours between it and the caller
        (each one costs per delta)."""
        model_name, _ = self.ids.model(model)  # an unknown model fails before any request
        conversation = conversation or Conversation()
        dialect = await self.dialect(cookies, conversation)
        return dialect.ask(message, conversation, model_name)

    async def warm_up(
        self, cookies: Cookies, conversation: Conversation | None, model: str | None
    ) -> bool:
        """Make the next ask on ``conversation`` (None: a new one) only send its message
        (the gateway dialect; False where there is nothing to warm)."""
        login = cookies.get(self.ids.login_cookie("gateway"))
        if self.protocol == "abra" or not login:
            return False
        key, conversation_id = pool_key(login, self.gateway_url), conversation and conversation.id
        if POOL.ready_for(key, conversation_id):
            return False
        # Marked before the home page is read: an ask starting meanwhile waits for this.
        with POOL.warming(key, conversation_id):
            dialect = await self.dialect(cookies, conversation)
            if not isinstance(dialect, GatewayDialect):
                return False
            await dialect.warm_up(conversation, model)
        return True

    async def dialect(
        self, cookies: Cookies | None, conversation: Conversation | None = None
    ) -> Dialect:
        """The dialect the site speaks: ``protocol``, else what the home page tells."""
        gateway_login = bool(cookies) and self.ids.login_cookie("gateway") in cookies
        if self.protocol != "abra" and gateway_login:
            login = cookies[self.ids.login_cookie("gateway")]
            kept = POOL.ready_for(
                pool_key(login, self.gateway_url), conversation and conversation.id
            )
            if kept or TOKENS.get(
                TOKENS.key(login), float(self.ids["web"]["token_max_age_seconds"])
            ):
                return self._gateway(cookies, None)  # no home page needed
        if self.protocol == "gateway" and not gateway_login:
            raise self.no_login(("gateway",), cookies)
        home = await load_home(self.transport, self.web_url, cookies, self.ids, forget_cookies)
        chosen = dialect_of(home, self.protocol, self.ids)
        if chosen == "gateway":
            if not gateway_login:
                raise self.no_login(("gateway",), cookies)
            return self._gateway(cookies, home)
        if chosen == "abra":
            return AbraDialect(
                self.transport, self.ids, self.web_url, self.graph_url, home, bool(cookies)
            )
        if cookies:
            home.require_token(self.ids)  # raises: a changed page, or no login
        raise LoginRequiredError(NO_ANONYMOUS)

    def _gateway(self, cookies: Cookies, home: Any) -> GatewayDialect:
        return GatewayDialect(
            self.transport, self.ids, self.web_url, self.gateway_url, cookies, home
        )

    def login_dialects(self) -> tuple[str, ...]:
        return ("gateway", "abra") if self.protocol == "auto" else (self.protocol,)

    def no_login(self, dialects: tuple[str, ...], cookies: Cookies | None) -> LoginRequiredError:
        if not cookies:
            return LoginRequiredError(NO_ANONYMOUS)
        names = " or ".join(f"`{self.ids.login_cookie(d)}`" for d in dialects)
        return LoginRequiredError(f"The meta.ai cookies given hold no login (no {names} cookie).")


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
        options, conversation = split_options(kwargs)
        async with cls(proxy, **options) as client:
            client.ids.model(model)  # an unknown model fails before the browsers are read
            if cookies is None:
                # browser-cookie3 is slow and blocking: keep it off the event loop.
                cookies = await asyncio.to_thread(get_cookies, ".meta.ai", True, True)
            client.require_login(cookies)
            answer = await client.start(format_prompt(messages), cookies, conversation, model)
            async for chunk in answer:
                yield chunk

    def require_login(self, cookies: Cookies) -> None:
        dialects = self.login_dialects()
        if not any(self.ids.login_cookie(d) in cookies for d in dialects):
            raise self.no_login(dialects, cookies)


def dialect_of(home: HomePage, protocol: str, ids: Identifiers) -> str | None:
    """The dialect to speak: the one asked for, else what the home page tells."""
    if protocol != "auto":
        return protocol
    if home.access_token(ids):
        return "gateway"
    return "abra" if home.abra_tokens()[0] else None


OPTIONS = (
    "connect_timeout",
    "read_timeout",
    "first_text_timeout",
    "ask_timeout",
    "identifiers",
    "url",
    "graph_url",
    "gateway_url",
    "protocol",
    "max_answer_mb",
)


def split_options(kwargs: dict[str, Any]) -> tuple[dict[str, Any], Conversation | None]:
    """Constructor options and the conversation out of g4f-style ``**kwargs``.

    Unknown keyword arguments are ignored, as g4f providers do.
    """
    options = {name: kwargs[name] for name in OPTIONS if kwargs.get(name) is not None}
    return options, kwargs.get("conversation")
