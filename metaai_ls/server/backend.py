"""Which door an ask goes through, from the settings: the account (the web site's
protocol) or the Meta Model API (an API key). No HTTP here: the provider does that."""

from __future__ import annotations

import asyncio
import importlib
import logging
import os
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

from .settings import Settings

if TYPE_CHECKING:
    from metaai_ls.provider import Conversation, Result

logger = logging.getLogger(__name__)

# Imported in the background once the editor is idle after start-up, so that the first
# ask does not pay for them and start-up does not either.
HEAVY_MODULES = (
    "aiohttp",
    "metaai_ls.provider.client",
    "metaai_ls.provider.api",
    "metaai_ls.provider.doctor",
)


def import_heavy_modules() -> None:
    for name in HEAVY_MODULES:
        try:
            importlib.import_module(name)
        except Exception as error:  # a missing optional module shows up when it is used
            logger.debug("preloading %s failed: %s", name, type(error).__name__)


async def answer(
    settings: Settings, messages: list[dict[str, str]], conversation: Conversation
) -> AsyncIterator[Result]:
    """The provider's results for one ask, through the chosen backend."""
    if settings.backend == "api":
        from metaai_ls.provider import MetaModelAPI, api_key_from

        key, _ = await asyncio.to_thread(api_key_from, settings.api_key_file)
        generator = MetaModelAPI.create_async_generator(
            model=settings.model,
            messages=messages,
            proxy=settings.proxy,
            api_key=key,
            api_url=settings.api_url,
            conversation=conversation,
        )
    else:
        from metaai_ls.provider import MetaAIAccount

        generator = MetaAIAccount.create_async_generator(
            model=settings.model,
            messages=messages,
            proxy=settings.proxy,
            cookies=await account_cookies(settings),
            conversation=conversation,
            url=settings.url,
            graph_url=settings.graph_url,
            gateway_url=settings.gateway_url,
            protocol=settings.protocol,
        )
    async for result in generator:
        yield result


async def account_cookies(settings: Settings) -> dict[str, str] | None:
    """The `cookiesFile` setting's cookies; None lets the provider find them."""
    if not settings.cookies_file:
        return None
    from metaai_ls.provider import load_cookie_file

    path = os.path.expanduser(settings.cookies_file)
    return await asyncio.to_thread(load_cookie_file, path)


async def doctor(settings: Settings, send: bool = False) -> dict[str, Any]:
    from metaai_ls.provider.doctor import DoctorOptions, report

    options = DoctorOptions(
        backend=settings.backend,
        cookies_file=settings.cookies_file,
        api_key_file=settings.api_key_file,
        proxy=settings.proxy,
        url=settings.url,
        graph_url=settings.graph_url,
        gateway_url=settings.gateway_url,
        api_url=settings.api_url,
        protocol=settings.protocol,
        model=settings.model,
        send=send,
    )
    ok, steps = await report(options)
    return {
        "ok": ok,
        "report": "\n".join(step.line() for step in steps),
        "steps": [{"name": s.name, "ok": s.ok, "detail": s.detail, "help": s.help} for s in steps],
    }
