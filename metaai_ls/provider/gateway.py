"""The gateway dialect (today's meta.ai, since July 2026): an ``ecto1:`` access token from
the home page, two GraphQL calls once per conversation, then a WebSocket to
gateway.meta.ai carrying binary frames, the prompt as a schema-less protobuf message and
the answer as JSON events. Every volatile value comes from ``identifiers.json``."""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import dataclasses
import functools
import getpass
import hashlib
import json
import logging
import os
import random
import time
import uuid
from collections.abc import AsyncIterator, Mapping
from typing import TYPE_CHECKING, Any, NoReturn

from . import decode, frames, protowire
from .cookies import forget_cookies
from .errors import (
    AnswerCutOffError,
    AskTimeoutError,
    ClientChangedError,
    ConfigError,
    GeoBlockedError,
    LoginExpiredError,
    MetaAITimeoutError,
    RateLimitedError,
    error_from_text,
)
from .gateway_answer import GatewayAnswer
from .home import TOKENS, VIEWER_IDS, HomePage, load_home
from .identifiers import Identifiers
from .results import Result
from .sockets import DEAUTH, DRAIN, PING, PONG, POOL, GatewaySocket
from .transport import (
    MAX_JSON_BYTES,
    Transport,
    check_status,
    close_socket,
    cookie_header,
    origin_of,
    read_text,
)
from .warmup import GATE

if TYPE_CHECKING:
    import aiohttp

    from .conversation import Conversation

logger = logging.getLogger(__name__)

LOGIN_CLOSE_CODES = range(4001, 4005)
EXTRA_IDS = ("uuid_1", "uuid_2", "uuid_3")  # more per-turn UUIDs a learned map may hold
MAX_FRAME_BYTES = 16 << 20


class Rejected(Exception):
    """The gateway ended the turn before any text: the token or the message was refused."""


class _Lost(Exception):
    """The socket went away before any answer text (closed, drained, de-authorised): the
    turn may be sent again on a new one. ``login``: closed as a refused login."""

    def __init__(self, login: bool = False) -> None:
        self.login = login


class _Refused(Exception):
    """The handshake was refused with 401/403: the token, not yet the login."""

    def __init__(self, status: int) -> None:
        self.status = status


class _Silent(Exception):
    """Nothing (with text, where text is awaited) came in time."""


@dataclasses.dataclass
class _Tries:
    """What one ask may do again, once each: a fresh token, a new socket for a kept one."""

    fresh: bool = False  # the next token comes from a new home page
    reconnected: bool = False


# aiohttp.WSMsgType's values (the WebSocket opcodes; an IntEnum, so they compare as ints),
# named here: an `import aiohttp` in the per-frame path costs more than the frame's parse.
WS_TEXT, WS_BINARY, WS_PING, WS_PONG = 1, 2, 9, 10


def pool_key(login: str, gateway_url: str) -> str:
    """Whose kept sockets these are: a digest of the login (no cookie value) and the gateway."""
    return f"{TOKENS.key(login)} {gateway_url}"


class GatewayDialect:
    name = "gateway"

    def __init__(
        self,
        transport: Transport,
        ids: Identifiers,
        web_url: str,
        gateway_url: str,
        cookies: Mapping[str, str],
        home: HomePage | None = None,
    ) -> None:
        self.transport = transport
        self.ids = ids
        self.gw = ids["gateway"]
        self.web_url = web_url
        self.origin = origin_of(web_url) or web_url  # never its user:password
        self.gateway_url = gateway_url
        self.cookies = dict(home.cookies if home else cookies)
        self.home = home
        login = cookies.get(ids.login_cookie("gateway"), "")
        self.token_key = TOKENS.key(login)
        self.pool_key = pool_key(login, gateway_url)
        self.last_phase = ""  # for `doctor`: how far a turn got
        used = {row[2] for row in self.gw["message"] if isinstance(row[2], str)}
        self.extra_ids = tuple(n for n in EXTRA_IDS if "{" + n + "}" in used)

    # -- the access token

    async def token(self, fresh: bool = False) -> tuple[str, bool]:
        """The ``ecto1:`` token, and whether it came from the cache (at most
        ``token_max_age_seconds`` old) rather than from a home page just read."""
        max_age = float(self.ids["web"]["token_max_age_seconds"])
        if not fresh and self.home is None and (cached := TOKENS.get(self.token_key, max_age)):
            return cached, True
        if fresh or self.home is None:
            self.home = await load_home(
                self.transport, self.web_url, self.cookies, self.ids, forget_cookies
            )
            self.cookies = self.home.cookies
        home, self.home = self.home, None  # a page is used once: the next token comes anew
        token = home.require_token(self.ids)
        if (viewer := home.viewer_id(self.ids)) is not None:
            VIEWER_IDS[self.token_key] = viewer
        else:
            VIEWER_IDS.pop(self.token_key, None)
        TOKENS.put(self.token_key, token)
        return token, False

    # -- a turn

    async def ask(
        self, prompt: str, conversation: Conversation, model: str
    ) -> AsyncIterator[Result]:
        _, mode = self.ids.model(model)
        socket = await self._kept_socket(conversation)
        tries = _Tries()
        reused = socket is not None
        conversation.start()
        setup = self._setup(conversation, mode, socket)
        try:
            while True:
                answer = GatewayAnswer(
                    self.gw["reasoning_typename"],
                    self.gw["reasoning_path"],
                    self.transport.max_answer,
                )
                try:
                    # The answer loop runs here, not in a generator of its own: every
                    # generator layer costs per delta.
                    phase = "connecting to Meta AI's gateway"
                    with self.transport.errors(phase, lambda answer=answer: answer.length):
                        if socket is None:
                            socket = await self._connect(conversation.id, tries)
                        if setup is not None:
                            await setup  # the GraphQL calls ran beside the handshake
                            setup = None
                        await self._send(socket, prompt, conversation, mode)
                        text_by = time.monotonic() + self.transport.timeouts.first_text
                        read = self.transport.timeouts.read
                        while not answer.done:
                            length = answer.length
                            results = await self._next_results(socket, answer, text_by)
                            if answer.length > length:  # only text is progress
                                text_by = time.monotonic() + read
                            for result in results:
                                yield result
                except (_Lost, Rejected) as failure:
                    if socket is not None:  # None: lost before its acknowledgement
                        await socket.close()
                    socket = None
                    self._again(failure, reused, tries)
                    reused = False
                    continue
                break
            conversation.turns += 1
            socket.turns += 1
            POOL.put(socket, float(self.gw["keep_socket_seconds"]))
            socket = None
        finally:
            if socket is not None:  # failed or cancelled mid-turn: never kept
                await socket.close()
            if setup is not None:
                setup.cancel()
                with contextlib.suppress(Exception, asyncio.CancelledError):
                    await setup

    def _again(self, failure: Exception, reused: bool, tries: _Tries) -> None:
        """Let the turn go again on a new socket (before any text), or raise the error."""
        if isinstance(failure, _Lost) and not failure.login and reused and not tries.reconnected:
            logger.info("the kept gateway socket was gone; the turn goes on a new one")
            tries.reconnected = True
            return
        TOKENS.forget(self.token_key)
        if isinstance(failure, _Lost) and failure.login:
            if tries.fresh:
                forget_cookies()
                raise LoginExpiredError()
        elif tries.fresh:
            raise ClientChangedError(
                "the gateway ended the turn without an answer twice, with a fresh "
                "access token; it may ignore the prompt message's fields"
            ) from None
        logger.info("the gateway refused the turn; once more with a fresh token")
        tries.fresh = True

    async def _kept_socket(self, conversation: Conversation) -> GatewaySocket | None:
        """The conversation's kept socket, or for a new conversation a warmed one (whose
        conversation id it then adopts)."""
        wait = min(self.transport.timeouts.read, self.transport.remaining())
        asked_for = conversation.id
        socket = await POOL.take(self.pool_key, asked_for, wait)
        if socket is not None and socket.warmed:
            GATE.used(asked_for)  # the next intent may warm again
        if socket is not None and asked_for is None:
            conversation.id = socket.conversation_id
        return socket

    def _setup(
        self, conversation: Conversation, mode: Mapping[str, Any], socket: GatewaySocket | None
    ) -> asyncio.Task[None] | None:
        """The web client's warm-up and mode calls, once per conversation, started at once
        so that they run beside the handshake."""
        if conversation.follow_up or not self.gw["setup_graphql"]:
            return None
        if socket is not None and socket.prepared_mode == mode["graphql_mode"]:
            return None  # a warm-up made them
        assert conversation.id is not None
        return asyncio.create_task(self.prepare(conversation.id, mode))

    async def prepare(self, conversation_id: str, mode: Mapping[str, Any]) -> None:
        """The web client's warm-up and mode calls, once per conversation."""
        await self.graphql(self.gw["warmup_doc_id"], {"conversationId": conversation_id})
        variables = {"input": {"conversationId": conversation_id, "mode": mode["graphql_mode"]}}
        await self.graphql(self.gw["mode_doc_id"], variables)

    async def graphql(self, doc_id: str, variables: dict[str, Any]) -> dict[str, Any]:
        url = self.web_url + self.ids["web"]["graphql_path"]
        headers = {
            **cookie_header(self.cookies),
            "content-type": "application/json",
            "accept": "multipart/mixed, application/json",
            "origin": self.origin,
            "referer": self.origin + "/",
            "x-asbd-id": self.ids["asbd_id"],
        }
        body = json.dumps({"doc_id": doc_id, "variables": variables})
        with self.transport.errors("calling Meta AI's GraphQL API"):
            async with self.transport.session.post(
                url,
                data=body,
                headers=headers,
                proxy=self.transport.http_proxy,
                timeout=self.transport.request_timeout(),
            ) as response:
                text = await read_text(response, MAX_JSON_BYTES, "Meta AI's GraphQL answer")
                check_status(response.status, text, True, response.headers, forget_cookies)
        return _graphql_data(text)

    # -- warming up ahead of an ask

    async def warm_up(self, conversation: Conversation | None, model: str | None) -> None:
        """Open (and keep) the socket and stream the next ask on ``conversation`` would
        use (None: a new conversation, whose id the next new one adopts), with a fresh
        token: at most what one ask would send (one home page, a new conversation's
        GraphQL calls, one handshake). ``POOL.warming`` is the caller's."""
        conversation_id = conversation.id if conversation is not None else None
        _, mode = self.ids.model(model)
        await self._fresh_token_at_hand()
        new_id = conversation_id or str(uuid.uuid4())
        setup = None
        if conversation_id is None and self.gw["setup_graphql"]:
            setup = asyncio.create_task(self.prepare(new_id, mode))
        try:
            with self.transport.errors("warming up Meta AI's gateway"):
                socket = await self._connect(new_id, _Tries())
                try:
                    if setup is not None:
                        await setup
                        socket.prepared_mode = mode["graphql_mode"]
                except BaseException:
                    await socket.close()
                    raise
        finally:
            if setup is not None and not setup.done():
                setup.cancel()
                with contextlib.suppress(Exception, asyncio.CancelledError):
                    await setup
        socket.warmed = True
        POOL.put(socket, float(self.gw["warm_stream_seconds"]), new=conversation_id is None)

    async def _fresh_token_at_hand(self) -> None:
        """A token young enough that the ask needs no home page (unless it is refused)."""
        max_age = float(self.ids["web"]["token_max_age_seconds"])
        if self.home is None and TOKENS.get(self.token_key, max_age / 2) is None:
            await self.token(fresh=True)

    # -- the socket

    async def _connect(self, conversation_id: str, tries: _Tries) -> GatewaySocket:
        """A new socket with the conversation's stream opened and acknowledged. A cached
        token the handshake refuses may have been revoked early: once more with a fresh
        one (on the same session: no new connection); only a refusal of that one means
        the login expired."""
        session = self.transport.new_session(follow_redirects=False)
        try:
            while True:
                token, cached = await self.token(fresh=tries.fresh)
                try:
                    return await self._open_socket(session, token, conversation_id)
                except _Refused as refused:
                    TOKENS.forget(self.token_key)
                    if cached and not tries.fresh:
                        logger.info("the gateway refused a cached token; once more with a new one")
                        tries.fresh = True
                        continue
                    forget_cookies()
                    raise LoginExpiredError(refused.status) from None
        except BaseException:
            await session.close()
            raise

    async def _open_socket(
        self, session: aiohttp.ClientSession, token: str, conversation_id: str
    ) -> GatewaySocket:
        """The handshake and the stream opened, on ``session``, which the socket then owns."""
        self.last_phase = "handshake"
        max_age = float(self.ids["web"]["token_max_age_seconds"])
        expires = time.monotonic() + max_age - (TOKENS.age(self.token_key) or 0.0)
        ws = await self._handshake(session, self._query(token, str(uuid.uuid4())))
        socket = GatewaySocket(session, ws, self.pool_key, conversation_id, expires, self.token_key)
        try:
            await self._open(socket, conversation_id)
        except BaseException:
            with contextlib.suppress(Exception):  # what the other side already dropped
                await close_socket(ws)
            raise
        return socket

    async def handshake(self, token: str) -> None:
        """Connect and open a stream, as a turn does, without sending a message (doctor)."""
        session = self.transport.new_session(follow_redirects=False)
        try:
            with self.transport.errors("connecting to Meta AI's gateway"):
                try:
                    socket = await self._open_socket(session, token, str(uuid.uuid4()))
                except _Refused as refused:
                    raise LoginExpiredError(refused.status) from None
                await close_socket(socket.ws)
        finally:
            await session.close()

    def _query(self, token: str, request_id: str) -> dict[str, str]:
        values = {"access_token": token, "request_id": request_id, "app_id": self.gw["app_id"]}
        query = dict(self.gw["query"])
        if self.gw["send_optional_query"]:
            query.update(self.gw["optional_query"])
        return {k: str(protowire.fill(v, values)) for k, v in query.items()}

    async def _handshake(
        self, session: aiohttp.ClientSession, query: dict[str, str]
    ) -> aiohttp.ClientWebSocketResponse:
        import aiohttp

        headers = {"origin": self.origin, "user-agent": self.ids["user_agent"]}
        try:
            return await session.ws_connect(
                self.gateway_url,
                params=query,
                headers=headers,
                proxy=self.transport.http_proxy,
                autoping=False,  # pings are answered by hand: they must not extend a wait
                heartbeat=None,
                max_msg_size=MAX_FRAME_BYTES,
                timeout=aiohttp.ClientWSTimeout(ws_receive=None, ws_close=2.0),
            )
        except aiohttp.WSServerHandshakeError as error:
            if error.status in (401, 403):
                raise _Refused(error.status) from None
            raise _handshake_error(error.status, error.headers) from None

    async def _open(self, socket: GatewaySocket, conversation_id: str) -> None:
        """The open frame, then the acknowledgement; at least ``open_wait_ms`` (the
        gateway debounces a new stream). Frames before it (greetings) do not extend the
        wait."""
        values = {"conversation_id": conversation_id}
        payload = {k: protowire.fill(v, values) for k, v in self.gw["open_payload"].items()}
        opened = time.monotonic()
        await socket.ws.send_bytes(frames.open_frame(payload))
        self.last_phase = "acknowledgement"
        marker = self.gw["ack_marker"].encode()
        until = opened + self.transport.timeouts.read
        while True:
            try:
                data = await self._receive(socket, until)
            except _Silent:
                self._raise_timeout(self.transport.timeouts.read, "the gateway's acknowledgement")
            if data is None:
                raise Rejected()
            if marker in data:
                break
            await self._answer_pings(socket, data)
        wait = self.gw["open_wait_ms"] / 1000 - (time.monotonic() - opened)
        if wait > 0:
            await asyncio.sleep(wait)

    async def _send(
        self,
        socket: GatewaySocket,
        prompt: str,
        conversation: Conversation,
        mode: Mapping[str, Any],
    ) -> None:
        """The prompt as the next data frame of the socket's stream."""
        import aiohttp

        request_id = str(uuid.uuid4())
        payload = self.prompt_message(prompt, conversation, mode, request_id, socket.ids)
        body = {"req-id": request_id, "payload": base64.b64encode(payload).decode()}
        if socket.ws.closed:
            raise _Lost()
        try:
            await socket.ws.send_bytes(frames.data_frame(body, socket.next_sequence))
        except (ConnectionError, aiohttp.ClientError):
            raise _Lost() from None
        socket.next_sequence += 1
        socket.warmed = False
        self.last_phase = "answer"
        logger.debug("sent a prompt of %d characters to the gateway", len(prompt))

    async def _next_results(
        self, socket: GatewaySocket, answer: GatewayAnswer, text_by: float
    ) -> list[Result]:
        """The results of the next message (often none); ``answer.done`` once the turn
        has ended. ``text_by``: when the next text is due (frames without text do not
        move it)."""
        try:
            data = await self._receive(socket, min(text_by, self.transport.deadline))
        except _Silent:
            if answer.length and time.monotonic() < self.transport.deadline:
                raise AnswerCutOffError(answer.length) from None
            self._raise_timeout(self.transport.timeouts.first_text, "Meta AI to start answering")
        if data is None:  # the socket closed
            if socket.ws.close_code in LOGIN_CLOSE_CODES:
                TOKENS.forget(self.token_key)
                if answer.length:
                    raise LoginExpiredError()
                raise _Lost(login=True)
            if answer.length:
                raise AnswerCutOffError(answer.length)
            raise _Lost()
        if (body := frames.lone_data_body(data)) is not None:  # the usual message
            results = answer.feed_body(body)
            if answer.done:
                socket.end_pending = True  # ended on its final object: an END may follow
            return results
        results: list[Result] = []
        for frame in frames.read_frames(data):
            kind = frame.type
            if kind == frames.END:
                results += answer.flush_held()
                if not answer.length:
                    if socket.end_pending:  # the end of the previous turn
                        socket.end_pending = False
                        continue
                    raise Rejected()
                answer.done = True
                socket.end_pending = False
                break
            if kind == frames.DATA:
                results += answer.feed_body(frame.body)
                if answer.done:
                    socket.end_pending = True
            elif kind == PING:
                await socket.ws.send_bytes(frames.frame(PONG, frame.body))
            elif kind in (DRAIN, DEAUTH):
                socket.reusable = False  # finish the turn, never keep the socket
                if kind == DEAUTH:
                    TOKENS.forget(self.token_key)
                    if not answer.length:
                        raise _Lost(login=True)
        return results

    async def _receive(self, socket: GatewaySocket, until: float) -> bytes | None:
        """The next message's bytes; None when the socket closed. WebSocket pings are
        answered here and do not extend the wait."""
        ws = socket.ws
        while True:
            left = until - time.monotonic()
            if left <= 0:
                raise _Silent()
            try:
                # aiohttp's own time-out: no task per frame, as asyncio.wait_for would make.
                message = await ws.receive(left)
            except (TimeoutError, asyncio.TimeoutError):
                raise _Silent() from None
            kind = message.type
            if kind == WS_BINARY:
                return message.data
            if kind == WS_TEXT:
                return frames.frame(frames.DATA, b"\x00\x80" + message.data.encode())
            if kind == WS_PING:
                await ws.pong(message.data)
            elif kind != WS_PONG:
                return None

    async def _answer_pings(self, socket: GatewaySocket, data: bytes) -> None:
        for frame in frames.read_frames(data):
            if frame.type == PING:
                await socket.ws.send_bytes(frames.frame(PONG, frame.body))

    def _raise_timeout(self, seconds: float, what: str) -> NoReturn:
        if time.monotonic() >= self.transport.deadline:
            raise AskTimeoutError(self.transport.timeouts.ask, f"waiting for {what}")
        raise MetaAITimeoutError(seconds, f"waiting for {what}")

    # -- the prompt message

    def prompt_message(
        self,
        prompt: str,
        conversation: Conversation,
        mode: Mapping[str, Any],
        request_id: str,
        socket_ids: tuple[str, str],
    ) -> bytes:
        values = self.turn_values(prompt, conversation, mode, request_id, socket_ids)
        rows = self.gw["message"]
        if captured := self.gw["prompt_message_base64"]:
            turn = set(self.gw["turn_fields"])
            try:
                data = base64.b64decode(captured, validate=True)
                return protowire.patch(data, [r for r in rows if r[0] in turn], values)
            except (binascii.Error, protowire.WireError) as error:
                raise ConfigError(
                    f"gateway.prompt_message_base64 is not a base64 protobuf message ({error})."
                ) from None
        try:
            return protowire.build(rows, values)
        except (protowire.WireError, ValueError, TypeError) as error:
            raise ConfigError(f"gateway.message cannot be encoded: {error}.") from None

    def turn_values(
        self,
        prompt: str,
        conversation: Conversation,
        mode: Mapping[str, Any],
        request_id: str,
        socket_ids: tuple[str, str],
    ) -> dict[str, Any]:
        gw = self.gw
        follow_up = conversation.follow_up
        now = int(time.time() * 1000)
        return {
            "entry_point": gw["entry_point_follow_up" if follow_up else "entry_point_new"],
            "branch_path": gw["branch_path_follow_up" if follow_up else "branch_path_new"],
            "app_id": gw["app_id"],
            "client_id": client_id(),
            "conversation_id": conversation.id,
            "actor_id": gw["actor_id"],
            "account_id": VIEWER_IDS.get(self.token_key, gw["account_id"]),
            "mode_id": mode["mode_id"],
            "mode_name": mode["mode_name"],
            "platform": gw["platform"],
            "user_agent": self.ids["user_agent"],
            "build_hash": gw["build_hash"],
            "sent_ms": now + random.randint(2, 9),
            "now_ms": now,
            "request_id": request_id,
            "locale": gw["locale"],
            "socket_id": socket_ids[0],
            "session_id": socket_ids[1],
            "time_zone": gw["time_zone"] or local_time_zone(),
            "message_id": str(uuid.uuid4()),
            "message_key": now * 4194304 + random.randrange(4096),
            "prompt": prompt,
            **{name: str(uuid.uuid4()) for name in self.extra_ids},
        }


@functools.cache
def client_id() -> str:
    """Eight groups of four hex digits, the same for this user on this machine."""
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = ""
    digest = hashlib.sha256(f"metaai-ls:{uuid.getnode()}:{user}".encode()).hexdigest()
    return "-".join(digest[i : i + 4] for i in range(0, 32, 4))


def local_time_zone() -> str:
    if (zone := os.environ.get("TZ", "").lstrip(":")) and "/" in zone:
        return zone
    try:
        link = os.readlink("/etc/localtime")
        return link.split("zoneinfo/", 1)[1]
    except (OSError, IndexError):
        return "UTC"


def _handshake_error(status: int, headers: Any) -> Exception:
    if status == 429:
        return RateLimitedError((headers or {}).get("retry-after"))
    return ClientChangedError(f"the gateway refused the WebSocket handshake with HTTP {status}")


def _graphql_data(text: str) -> dict[str, Any]:
    try:
        data = decode.loads(text)
    except ValueError:
        raise GeoBlockedError() from None  # the web host answers non-JSON where it is blocked
    if not isinstance(data, dict):
        raise GeoBlockedError()
    if errors := data.get("errors"):
        first = errors[0] if isinstance(errors, list) and errors else errors
        message = first.get("message") if isinstance(first, dict) else first
        raise error_from_text(str(message))
    return data.get("data") or {}
