"""Which door an ask goes through, from the settings: the account (the web site's
protocol) or the Meta Model API (an API key). No HTTP here: the provider does that."""

from __future__ import annotations

import dataclasses
import importlib
import logging
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

from metaai_ls.redact import redact

from .settings import Settings

if TYPE_CHECKING:
    from metaai_ls.provider import Conversation, Result
    from metaai_ls.provider.doors import DoorOptions

    from .server import MetaAILanguageServer

logger = logging.getLogger(__name__)

# Imported in the background once the editor is idle after start-up, so that the first
# ask does not pay for them and start-up does not either.
HEAVY_MODULES = (
    "aiohttp",
    "metaai_ls.provider.doors",
    "metaai_ls.provider.client",
    "metaai_ls.provider.api",
    "metaai_ls.provider.doctor",
    "metaai_ls.provider.warmup",
)


def import_heavy_modules() -> None:
    for name in HEAVY_MODULES:
        try:
            importlib.import_module(name)
        except Exception as error:  # a missing optional module shows up when it is used
            logger.debug("preloading %s failed: %s", name, type(error).__name__)


def door_options(settings: Settings) -> DoorOptions:
    """The settings the provider needs (they bear the same names)."""
    from metaai_ls.provider.doors import DoorOptions

    names = (field.name for field in dataclasses.fields(DoorOptions))
    return DoorOptions(**{name: getattr(settings, name) for name in names})


def warm_up(ls: MetaAILanguageServer, conversation: Conversation | None) -> None:
    """On intent to ask (code actions on a selection, a chat view): warm the account
    door up for the next ask on ``conversation`` (None: a new one), in the background,
    at most once per conversation and time window (setting `warmup`)."""
    settings = ls.settings
    if not settings.warmup or settings.backend != "account":
        return
    from metaai_ls.provider.warmup import GATE

    if GATE.due(conversation.id if conversation is not None else None):
        ls.spawn(_warm_up(settings, conversation), "warming up Meta AI")


async def _warm_up(settings: Settings, conversation: Conversation | None) -> None:
    from metaai_ls.provider import MetaAIError
    from metaai_ls.provider.warmup import warm_up

    try:
        await warm_up(door_options(settings), conversation)
    except MetaAIError as error:  # the ask itself reports what went wrong
        logger.debug("warming up failed: %s", type(error).__name__)


async def answer(
    settings: Settings, messages: list[dict[str, str]], conversation: Conversation
) -> AsyncIterator[Result]:
    """The provider's answer generator for one ask, through the chosen backend."""
    from metaai_ls.provider.doors import open_answer

    return await open_answer(door_options(settings), messages, conversation)


async def doctor(settings: Settings, send: bool = False) -> dict[str, Any]:
    from metaai_ls.provider.doctor import DoctorOptions, report

    options = DoctorOptions(**dataclasses.asdict(door_options(settings)), send=send)
    ok, steps = await report(options)
    return {
        "ok": ok,
        "report": redact("\n".join(step.line() for step in steps)),
        "steps": [{"name": s.name, "ok": s.ok, "detail": s.detail, "help": s.help} for s in steps],
    }
