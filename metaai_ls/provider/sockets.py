"""Gateway sockets kept between turns, as a browser keeps its own: one per conversation,
process-wide and bounded, each owning its aiohttp session.

A kept socket is read all the time it waits (its "keeper" task): the gateway's pings
(type 9, and WebSocket pings) are answered, and a close, a drain (3) or a de-auth (4)
drops it at once. It is dropped too after ``keep_seconds`` without a turn, when the token
it was opened with is too old, and when its event loop ends (the keeper is cancelled then
and closes it). A socket opened ahead of an ask (``warmed``) lives ``warm_seconds``, and
there is at most one such socket.

A turn takes its conversation's socket out of the pool (waiting for a warm-up of it still
under way) and hands it back only when the turn ended cleanly; a cancelled or failed turn
closes it.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
import time
import uuid
from collections.abc import Iterator
from typing import TYPE_CHECKING

from . import frames
from .home import TOKENS

if TYPE_CHECKING:
    import aiohttp

logger = logging.getLogger(__name__)

DRAIN, DEAUTH, PING, PONG = 3, 4, 9, 10
NEW = ""  # the pool's name for "a new conversation" (a warmed id the next one adopts)
LIMIT = 4  # sockets kept at most (the least recently used goes first)


class GatewaySocket:
    """One WebSocket to the gateway, its own session, and its stream's state."""

    def __init__(
        self,
        session: aiohttp.ClientSession,
        ws: aiohttp.ClientWebSocketResponse,
        key: str,
        conversation_id: str,
        expires: float,
        token_key: str = "",
    ) -> None:
        self.session = session
        self.ws = ws
        self.key = key  # the login and gateway it was opened for
        self.token_key = token_key  # its login's cached token (forgotten on a de-auth)
        self.conversation_id = conversation_id
        self.expires = expires  # monotonic time its token gets too old to trust
        self.next_sequence = 0  # of the next data frame on this socket
        self.end_pending = False  # the last turn ended on its final object: an END may follow
        self.reusable = True  # False once the gateway asked to drain
        self.warmed = False  # opened ahead of an ask, not used yet
        self.prepared_mode: str | None = None  # the GraphQL setup done for it (warm-up)
        self.turns = 0
        self.ids = (str(uuid.uuid4()), str(uuid.uuid4()))  # kept for the socket's life
        self.loop = asyncio.get_running_loop()
        self.keeper: asyncio.Task[None] | None = None

    @property
    def healthy(self) -> bool:
        return self.reusable and not self.ws.closed and time.monotonic() < self.expires

    async def close(self) -> None:
        try:
            await self.ws.close()
        except Exception as error:  # closing what the other side already dropped
            logger.debug("closing a gateway socket: %s", type(error).__name__)
        finally:
            await self.session.close()


class SocketPool:
    def __init__(self, limit: int = LIMIT) -> None:
        self.limit = limit
        self._kept: collections.OrderedDict[tuple[str, str], GatewaySocket] = (
            collections.OrderedDict()
        )
        self._warming: dict[tuple[str, str], asyncio.Future[None]] = {}

    def __len__(self) -> int:
        return len(self._kept)

    def ready_for(self, key: str, conversation_id: str | None) -> bool:
        """Whether a socket is kept (or being warmed) for the conversation."""
        name = (key, conversation_id or NEW)
        return name in self._warming or (name in self._kept and self._kept[name].healthy)

    async def take(
        self, key: str, conversation_id: str | None, wait: float
    ) -> GatewaySocket | None:
        """The conversation's kept socket (None: a new conversation's warmed one), out of
        the pool; waits up to ``wait`` seconds for a warm-up of it under way."""
        name = (key, conversation_id or NEW)
        if (warming := self._warming.get(name)) is not None:
            with contextlib.suppress(asyncio.TimeoutError, TimeoutError):
                await asyncio.wait_for(asyncio.shield(warming), wait)
        socket = self._kept.pop(name, None)
        if socket is None:
            return None
        if socket.loop is not asyncio.get_running_loop():
            return None  # left by an event loop that is gone: nothing to close it with
        await self._stop_keeper(socket)
        if not socket.healthy:
            await socket.close()
            return None
        return socket

    def put(self, socket: GatewaySocket, seconds: float, new: bool = False) -> None:
        """Keep a socket whose turn (or warm-up) ended cleanly, for ``seconds`` unused."""
        if seconds <= 0 or not socket.healthy:
            _spawn(socket.close())
            return
        name = (socket.key, NEW if new else socket.conversation_id)
        if socket.warmed:  # at most one warmed socket
            for other in [k for k, s in self._kept.items() if s.warmed]:
                self._drop(other)
        if name in self._kept:
            self._drop(name)
        self._kept[name] = socket
        until = min(time.monotonic() + seconds, socket.expires)
        socket.keeper = asyncio.create_task(self._keep(name, socket, until), name="gateway keeper")
        while len(self._kept) > self.limit:
            self._drop(next(iter(self._kept)))

    @contextlib.contextmanager
    def warming(self, key: str, conversation_id: str | None) -> Iterator[None]:
        """Mark a warm-up under way, so that an ask waits for it instead of duplicating it."""
        name = (key, conversation_id or NEW)
        future = asyncio.get_running_loop().create_future()
        self._warming[name] = future
        try:
            yield
        finally:
            if self._warming.get(name) is future:
                del self._warming[name]
            future.set_result(None)

    async def close_all(self) -> None:
        for name in list(self._kept):
            socket = self._kept.pop(name)
            if socket.loop is asyncio.get_running_loop():
                await self._stop_keeper(socket)
                await socket.close()

    def forget_all(self) -> None:
        """Drop every reference without closing (tests: a loop that is gone)."""
        self._kept.clear()
        self._warming.clear()

    # -- while kept

    def _drop(self, name: tuple[str, str]) -> None:
        socket = self._kept.pop(name, None)
        if socket is not None and socket.keeper is not None:
            socket.keeper.cancel()  # it closes the socket

    async def _stop_keeper(self, socket: GatewaySocket) -> None:
        keeper, socket.keeper = socket.keeper, None
        if keeper is not None and not keeper.done():
            keeper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await keeper

    async def _keep(self, name: tuple[str, str], socket: GatewaySocket, until: float) -> None:
        """Read the kept socket until it is taken (cancelled then, left open), dropped, or
        its time is up; answer pings meanwhile."""
        taken = False
        try:
            taken = await _read_while_kept(socket, until)
        except asyncio.CancelledError:
            taken = socket.keeper is None  # `take` clears it before cancelling
            raise
        except Exception as error:
            logger.debug("a kept gateway socket failed: %s", type(error).__name__)
        finally:
            if not taken:
                if self._kept.get(name) is socket:
                    del self._kept[name]
                await socket.close()


async def _read_while_kept(socket: GatewaySocket, until: float) -> bool:
    """False once the socket should go (closed, drained, de-authed, or time up)."""
    import aiohttp

    ws = socket.ws
    while (left := until - time.monotonic()) > 0:
        try:
            message = await ws.receive(left)
        except (asyncio.TimeoutError, TimeoutError):
            break
        if message.type == aiohttp.WSMsgType.PING:
            await ws.pong(message.data)
        elif message.type == aiohttp.WSMsgType.BINARY:
            for frame in frames.read_frames(message.data):
                if frame.type == PING:
                    await ws.send_bytes(frames.frame(PONG, frame.body))
                elif frame.type in (DRAIN, DEAUTH):
                    logger.debug("the gateway sent frame %d to a kept socket", frame.type)
                    if frame.type == DEAUTH:
                        TOKENS.forget(socket.token_key)
                    return False
                elif frame.type == frames.END:
                    socket.end_pending = False
        elif message.type != aiohttp.WSMsgType.PONG:
            return False  # closed, closing or an error
    return False


_background: set[asyncio.Task[None]] = set()


def _spawn(coroutine) -> None:
    task = asyncio.create_task(coroutine)
    _background.add(task)
    task.add_done_callback(_background.discard)


POOL = SocketPool()
