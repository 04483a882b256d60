"""Which door an ask goes through: the account (its cookies, the web site's protocol) or
the Meta Model API (a key). One set of options for the CLI, the language server and
`doctor`, so that each builds them once and none chooses the provider its own way."""

from __future__ import annotations

import asyncio
import dataclasses
import os
from collections.abc import AsyncIterator

from .conversation import Conversation
from .cookies import Cookies, load_cookie_file
from .prompt import Messages
from .results import Result


@dataclasses.dataclass
class DoorOptions:
    backend: str = "account"  # or "api"
    cookies_file: str | None = None
    api_key_file: str | None = None
    proxy: str | None = None
    url: str | None = None
    graph_url: str | None = None
    gateway_url: str | None = None
    api_url: str | None = None
    protocol: str | None = None
    model: str | None = None
    ask_timeout: float | None = None  # None: METAAI_ASK_TIMEOUT, then 900 s


async def cookies_from_file(path: str | None) -> Cookies | None:
    """The cookie file's cookies, read off the event loop; None without a file (the
    provider then reads the browsers)."""
    if not path:
        return None
    return await asyncio.to_thread(load_cookie_file, os.path.expanduser(path))


async def open_answer(
    options: DoorOptions, messages: Messages, conversation: Conversation
) -> AsyncIterator[Result]:
    """The chosen provider's answer generator itself (no layer between it and the caller:
    each one costs per delta)."""
    if options.backend == "api":
        from .api import MetaModelAPI, api_key_from

        key, _ = await asyncio.to_thread(api_key_from, options.api_key_file)
        return MetaModelAPI.create_async_generator(
            model=options.model,
            messages=messages,
            proxy=options.proxy,
            api_key=key,
            api_url=options.api_url,
            conversation=conversation,
        )
    from .client import MetaAIAccount

    return MetaAIAccount.create_async_generator(
        model=options.model,
        messages=messages,
        proxy=options.proxy,
        cookies=await cookies_from_file(options.cookies_file),
        conversation=conversation,
        url=options.url,
        graph_url=options.graph_url,
        gateway_url=options.gateway_url,
        protocol=options.protocol,
        ask_timeout=options.ask_timeout,
    )
