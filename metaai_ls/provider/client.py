"""The providers of the seed's interface, ``MetaAI`` (no account) and
``MetaAIAccount(MetaAI)``: they choose the dialect the site speaks and run one ask in it.

The dialects (``gateway.py`` today's, ``abra.py`` g4f's) share the transport
(``transport.py``) and the home page (``home.py``).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Mapping
from typing import Any, ClassVar, Protocol

from . import identifiers as ids
from .abra import AbraDialect
from .conversation import Conversation
from .cookies import Cookies, forget_cookies, get_cookies
from .errors import LoginRequiredError
from .gateway import GatewayDialect
from .home import TOKENS, load_home
from .prompt import Messages, format_prompt
from .results import Result
from .transport import Timeouts, Transport


class Dialect(Protocol):
    name: str

    def ask(self, prompt: str, conversation: Conversation, model: str) -> AsyncIterator[Result]:
        """Send one prompt; yield the answer's deltas, then sources or images."""


class MetaAI:
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
        identifiers: Mapping[str, Any] | None = None,
        url: str | None = None,
        graph_url: str | None = None,
        gateway_url: str | None = None,
        protocol: str | None = None,
    ) -> None:
        self.ids = ids.load_identifiers(identifiers)
        self.protocol = ids.protocol(protocol)
        self.web_url = (url or ids.web_url()).rstrip("/")
        self.graph_url = (graph_url or ids.graph_url()).rstrip("/")
        self.gateway_url = gateway_url or ids.gateway_url()
        headers = {
            "user-agent": self.ids["user_agent"],
            "accept-language": self.ids["accept_language"],
        }
        self.transport = Transport(
            proxy,
            Timeouts(connect_timeout, read_timeout, first_text_timeout),
            headers,
            self.web_url,
        )

    async def __aenter__(self) -> MetaAI:
        await self.transport.__aenter__()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.transport.__aexit__(*exc_info)

    @classmethod
    async def create_async_generator(
        cls, model: str, messages: Messages, proxy: str | None = None, **kwargs: Any
    ) -> AsyncIterator[Result]:
        options, conversation = split_options(kwargs)
        async with cls(proxy, **options) as client:
            async for chunk in client.prompt(
                format_prompt(messages), conversation=conversation, model=model
            ):
                yield chunk

    async def prompt(
        self,
        message: str,
        cookies: Cookies | None = None,
        conversation: Conversation | None = None,
        model: str | None = None,
    ) -> AsyncIterator[Result]:
        """Send ``message``; yield the answer as deltas, then sources or images."""
        model_name, _ = self.ids.model(model)  # an unknown model fails before any request
        dialect = await self.dialect(cookies)
        conversation = conversation if conversation is not None else Conversation()
        async for result in dialect.ask(message, conversation, model_name):
            yield result

    async def dialect(self, cookies: Cookies | None) -> Dialect:
        """The dialect the site speaks: ``protocol``, else what the home page tells."""
        gateway_login = bool(cookies) and self.ids.login_cookie("gateway") in cookies
        if self.protocol != "abra" and gateway_login:
            key = TOKENS.key(cookies[self.ids.login_cookie("gateway")])
            if TOKENS.get(key, float(self.ids["web"]["token_max_age_seconds"])):
                return self._gateway(cookies, None)  # a fresh token: no home page needed
        if self.protocol == "gateway" and not gateway_login:
            raise LoginRequiredError(self._no_login_detail("gateway", cookies))
        home = await load_home(self.transport, self.web_url, cookies, self.ids, forget_cookies)
        if self.protocol == "gateway" or (self.protocol == "auto" and home.access_token(self.ids)):
            if not gateway_login:
                raise LoginRequiredError(self._no_login_detail("gateway", cookies))
            return self._gateway(cookies, home)
        if self.protocol == "abra" or home.abra_tokens()[0]:
            return AbraDialect(
                self.transport, self.ids, self.web_url, self.graph_url, home, bool(cookies)
            )
        raise LoginRequiredError(
            "The meta.ai home page holds no login for the cookies given (no access token)."
            if cookies
            else "Meta AI needs a meta.ai login today (no anonymous use)."
        )

    def _gateway(self, cookies: Cookies, home: Any) -> GatewayDialect:
        return GatewayDialect(
            self.transport, self.ids, self.web_url, self.gateway_url, cookies, home
        )

    def _no_login_detail(self, dialect: str, cookies: Cookies | None) -> str:
        if not cookies:
            return "Meta AI needs a meta.ai login today (no anonymous use)."
        name = self.ids.login_cookie(dialect)
        return f"The meta.ai cookies given hold no login (no `{name}` cookie)."


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
            model_name(client, model)  # an unknown model fails before the browsers are read
            if cookies is None:
                # browser-cookie3 is slow and blocking: keep it off the event loop.
                cookies = await asyncio.to_thread(get_cookies, ".meta.ai", True, True)
            client.require_login(cookies)
            dialect = await client.dialect(cookies)
            # The dialect's generator directly: each layer costs per delta.
            async for chunk in dialect.ask(
                format_prompt(messages), conversation or Conversation(), model_name(client, model)
            ):
                yield chunk

    def require_login(self, cookies: Cookies) -> None:
        dialects = ("gateway", "abra") if self.protocol == "auto" else (self.protocol,)
        if not any(self.ids.login_cookie(d) in cookies for d in dialects):
            names = " or ".join(f"`{self.ids.login_cookie(d)}`" for d in dialects)
            raise LoginRequiredError(
                f"The meta.ai cookies given hold no login (no {names} cookie)."
            )


def model_name(client: MetaAI, model: str | None) -> str:
    return client.ids.model(model)[0]


OPTIONS = (
    "connect_timeout",
    "read_timeout",
    "first_text_timeout",
    "identifiers",
    "url",
    "graph_url",
    "gateway_url",
    "protocol",
)


def split_options(kwargs: dict[str, Any]) -> tuple[dict[str, Any], Conversation | None]:
    """Constructor options and the conversation out of g4f-style ``**kwargs``.

    Unknown keyword arguments are ignored, as g4f providers do.
    """
    options = {name: kwargs[name] for name in OPTIONS if kwargs.get(name) is not None}
    return options, kwargs.get("conversation")
