"""Warming up on intent: when the user is about to ask (code actions on a selection, a
chat view opened), make sure the next ask only has to send its message: a fresh token at
hand and the conversation's socket and stream open (for a new conversation: a warmed
conversation id the next new conversation adopts).

Bounded: nothing happens while the user is idle (only on those signals); a conversation is
warmed at most once per ``WINDOW`` unless its warmed stream was used meanwhile; at most one
warmed stream exists, dropped after ``gateway.warm_stream_seconds`` unused; a warm-up sends
at most what one ask would (one home page, a new conversation's GraphQL calls, one
handshake). This module is light: the code-action handler asks the gate on every request.
"""

from __future__ import annotations

import asyncio
import collections
import time
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .conversation import Conversation
    from .doors import DoorOptions

WINDOW = 30.0  # seconds: a conversation is warmed at most once in this time
NEW = "new conversation"


class WarmupGate:
    """When each conversation was last warmed (a bounded record, no I/O)."""

    def __init__(self, window: float = WINDOW, limit: int = 64) -> None:
        self.window = window
        self.limit = limit
        self._last: collections.OrderedDict[str, float] = collections.OrderedDict()

    def due(self, conversation_id: str | None) -> bool:
        """Whether to warm now; if so, the time is noted."""
        name, now = conversation_id or NEW, time.monotonic()
        last = self._last.get(name)
        if last is not None and now - last < self.window:
            return False
        self._last[name] = now
        self._last.move_to_end(name)
        while len(self._last) > self.limit:
            self._last.popitem(last=False)
        return True

    def used(self, conversation_id: str | None) -> None:
        """A warmed stream was used: the next intent may warm again at once."""
        self._last.pop(conversation_id or NEW, None)


GATE = WarmupGate()


async def warm_up(options: DoorOptions, conversation: Conversation | None) -> bool:
    """Warm the account door up for the next ask on ``conversation`` (None: a new one).
    False when there was nothing to do (kept already, another dialect, no login)."""
    from .client import MetaAIAccount
    from .cookies import get_cookies
    from .doors import cookies_from_file

    cookies = await cookies_from_file(options.cookies_file)
    if cookies is None:
        cookies = await asyncio.to_thread(get_cookies, ".meta.ai", True, True)
    client = MetaAIAccount(
        options.proxy,
        url=options.url,
        graph_url=options.graph_url,
        gateway_url=options.gateway_url,
        protocol=options.protocol,
        ask_timeout=options.ask_timeout,
    )
    async with client:
        return await client.warm_up(cookies, conversation, options.model)
