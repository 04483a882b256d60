"""The gateway dialect (today's meta.ai, since July 2026): an ``ecto1:`` access token from
the home page, two GraphQL calls once per conversation, then a WebSocket to
gateway.meta.ai carrying binary frames, the prompt as a schema-less protobuf message and
the answer as JSON events. Every volatile value comes from ``identifiers.json``."""

from __future__ import annotations

import asyncio
import base64
import binascii
import getpass
import hashlib
import json
import logging
import os
import random
import time
import uuid
from collections.abc import AsyncIterator, Mapping
from typing import TYPE_CHECKING, Any

from . import frames, protowire
from .cookies import forget_cookies
from .errors import (
    AnswerCutOffError,
    ClientChangedError,
    ConfigError,
    GeoBlockedError,
    LoginExpiredError,
    LoginRequiredError,
    MetaAITimeoutError,
    RateLimitedError,
    error_from_text,
)
from .gateway_answer import GatewayAnswer
from .home import TOKENS, HomePage, load_home
from .identifiers import Identifiers
from .results import Result
from .transport import Transport, check_status, cookie_header

if TYPE_CHECKING:
    import aiohttp

    from .conversation import Conversation

logger = logging.getLogger(__name__)

LOGIN_CLOSE_CODES = range(4001, 4005)
MAX_FRAME_BYTES = 16 << 20


class Rejected(Exception):
    """The gateway ended the turn before any text: the token or the message was refused."""


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
        self.gateway_url = gateway_url
        self.cookies = dict(home.cookies if home else cookies)
        self.home = home
        login = cookies.get(ids.login_cookie("gateway"), "")
        self.token_key = TOKENS.key(login)
        self.socket_id = str(uuid.uuid4())
        self.session_id = str(uuid.uuid4())
        self.last_phase = ""  # for `doctor`: how far a turn got

    # -- the access token

    async def token(self, fresh: bool = False) -> str:
        """The ``ecto1:`` token: cached for at most ``token_max_age_seconds``, else read
        from the home page."""
        max_age = float(self.ids["web"]["token_max_age_seconds"])
        if not fresh and (cached := TOKENS.get(self.token_key, max_age)):
            return cached
        if fresh or self.home is None:
            self.home = await load_home(
                self.transport, self.web_url, self.cookies, self.ids, forget_cookies
            )
            self.cookies = self.home.cookies
        token = self.home.access_token(self.ids)
        self.home = None  # a page is used once: the next token comes from a new one
        if not token:
            raise LoginRequiredError(
                "The meta.ai cookies given hold no login (the home page has no access token)."
            )
        TOKENS.put(self.token_key, token)
        return token

    # -- a turn

    async def ask(
        self, prompt: str, conversation: Conversation, model: str
    ) -> AsyncIterator[Result]:
        _, mode = self.ids.model(model)
        conversation.start()
        for attempt in range(2):
            token = await self.token(fresh=attempt > 0)
            if not conversation.follow_up and self.gw["setup_graphql"] and attempt == 0:
                await self.prepare(conversation.id, mode)
            answer = GatewayAnswer(self.gw["reasoning_typename"], self.gw["reasoning_path"])
            try:
                # The answer loop runs here, not in a generator of its own: every
                # generator layer costs per delta.
                phase = "connecting to Meta AI's gateway"
                with self.transport.errors(phase, lambda answer=answer: answer.length):
                    async with await self.start_turn(token, prompt, conversation, mode) as socket:
                        wait = self.transport.timeouts.first_text
                        while (
                            results := await self._next_results(socket, answer, wait)
                        ) is not None:
                            wait = self.transport.timeouts.read
                            for result in results:
                                yield result
            except Rejected:
                TOKENS.forget(self.token_key)
                if attempt:
                    raise ClientChangedError(
                        "the gateway ended the turn without an answer twice, with a fresh "
                        "access token; it may ignore the prompt message's fields"
                    ) from None
                logger.info("the gateway rejected the turn; once more with a fresh token")
                continue
            conversation.turns += 1
            return

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
            "origin": self.web_url,
            "referer": self.web_url + "/",
            "x-asbd-id": self.ids["asbd_id"],
        }
        body = json.dumps({"doc_id": doc_id, "variables": variables})
        with self.transport.errors("calling Meta AI's GraphQL API"):
            async with self.transport.session.post(
                url, data=body, headers=headers, proxy=self.transport.http_proxy
            ) as response:
                text = await response.text(errors="replace")
                check_status(response.status, text, True, response.headers, forget_cookies)
        return _graphql_data(text)

    async def start_turn(
        self, token: str, prompt: str, conversation: Conversation, mode: Mapping[str, Any]
    ) -> aiohttp.ClientWebSocketResponse:
        """A socket with the prompt sent on a new, acknowledged stream."""
        request_id = str(uuid.uuid4())
        self.last_phase = "handshake"
        socket = await self._connect(self._query(token, request_id))
        try:
            await self._open(socket, conversation.id)
            payload = self.prompt_message(prompt, conversation, mode, request_id)
            frame = frames.data_frame(
                {"req-id": request_id, "payload": base64.b64encode(payload).decode()}, 0
            )
            await socket.send_bytes(frame)
        except BaseException:
            await socket.close()
            raise
        self.last_phase = "answer"
        logger.debug("sent a prompt of %d characters to the gateway", len(prompt))
        return socket

    async def handshake(self, token: str) -> None:
        """Connect and open a stream, as a turn does, without sending a message (doctor)."""
        self.last_phase = "handshake"
        with self.transport.errors("connecting to Meta AI's gateway"):
            async with await self._connect(self._query(token, str(uuid.uuid4()))) as socket:
                await self._open(socket, str(uuid.uuid4()))

    def _query(self, token: str, request_id: str) -> dict[str, str]:
        values = {"access_token": token, "request_id": request_id, "app_id": self.gw["app_id"]}
        return {k: str(protowire.fill(v, values)) for k, v in self.gw["query"].items()}

    async def _connect(self, query: dict[str, str]) -> aiohttp.ClientWebSocketResponse:
        import aiohttp

        headers = {"origin": self.web_url, "user-agent": self.ids["user_agent"]}
        try:
            return await self.transport.session.ws_connect(
                self.gateway_url,
                params=query,
                headers=headers,
                proxy=self.transport.http_proxy,
                autoping=True,
                heartbeat=None,
                max_msg_size=MAX_FRAME_BYTES,
                timeout=aiohttp.ClientWSTimeout(ws_receive=None, ws_close=2.0),
            )
        except aiohttp.WSServerHandshakeError as error:
            raise _handshake_error(error.status, error.headers, self.token_key) from None

    async def _open(self, socket: aiohttp.ClientWebSocketResponse, conversation_id: str) -> None:
        """The open frame, then the acknowledgement; at least ``open_wait_ms`` (the
        gateway debounces a new stream)."""
        values = {"conversation_id": conversation_id}
        payload = {k: protowire.fill(v, values) for k, v in self.gw["open_payload"].items()}
        opened = time.monotonic()
        await socket.send_bytes(frames.open_frame(payload))
        self.last_phase = "acknowledgement"
        marker = self.gw["ack_marker"].encode()
        read = self.transport.timeouts.read
        while True:
            data = await self._receive(socket, read, "waiting for the gateway's acknowledgement")
            if data is None:
                raise Rejected()
            if marker in data:
                break
        wait = self.gw["open_wait_ms"] / 1000 - (time.monotonic() - opened)
        if wait > 0:
            await asyncio.sleep(wait)

    async def _next_results(
        self, socket: aiohttp.ClientWebSocketResponse, answer: GatewayAnswer, wait: float
    ) -> list[Result] | None:
        """The results of the next message (often none); None once the turn has ended."""
        if answer.done:
            return None
        try:
            data = await self._receive(socket, wait, "waiting for Meta AI to start answering")
        except MetaAITimeoutError:
            if answer.length:
                raise AnswerCutOffError(answer.length) from None
            raise
        if data is None:  # the socket closed
            if answer.length:
                raise AnswerCutOffError(answer.length)
            raise Rejected()
        if (body := frames.lone_data_body(data)) is not None:  # the usual message
            event = frames.event_of(body)
            return answer.feed(event) if event is not None else []
        results: list[Result] = []
        for frame in frames.read_frames(data):
            if frame.type == frames.END:
                results += answer.flush_held()
                if not answer.length:
                    raise Rejected()
                answer.done = True
                break
            if frame.type == frames.DATA and (event := frames.event_of(frame.body)) is not None:
                results += answer.feed(event)
        return results

    async def _receive(
        self, socket: aiohttp.ClientWebSocketResponse, timeout: float, phase: str
    ) -> bytes | None:
        """The next message's bytes; None when the socket closed."""
        import aiohttp

        try:
            # aiohttp's own time-out: no task per frame, as asyncio.wait_for would make.
            message = await socket.receive(timeout)
        except (TimeoutError, asyncio.TimeoutError):
            raise MetaAITimeoutError(timeout, phase) from None
        if message.type == aiohttp.WSMsgType.BINARY:
            return message.data
        if message.type == aiohttp.WSMsgType.TEXT:
            return frames.frame(frames.DATA, b"\x00\x80" + message.data.encode())
        code = socket.close_code
        if code in LOGIN_CLOSE_CODES:
            TOKENS.forget(self.token_key)
            raise LoginExpiredError()
        return None

    # -- the prompt message

    def prompt_message(
        self, prompt: str, conversation: Conversation, mode: Mapping[str, Any], request_id: str
    ) -> bytes:
        values = self.turn_values(prompt, conversation, mode, request_id)
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
        self, prompt: str, conversation: Conversation, mode: Mapping[str, Any], request_id: str
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
            "account_id": gw["account_id"],
            "mode_id": mode["mode_id"],
            "mode_name": mode["mode_name"],
            "platform": gw["platform"],
            "user_agent": self.ids["user_agent"],
            "build_hash": gw["build_hash"],
            "sent_ms": now + random.randint(2, 9),
            "now_ms": now,
            "request_id": request_id,
            "locale": gw["locale"],
            "socket_id": self.socket_id,
            "session_id": self.session_id,
            "time_zone": gw["time_zone"] or local_time_zone(),
            "message_id": str(uuid.uuid4()),
            "message_key": now * 4194304 + random.randrange(4096),
            "prompt": prompt,
        }


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


def _handshake_error(status: int, headers: Any, token_key: str) -> Exception:
    if status in (401, 403):
        TOKENS.forget(token_key)
        forget_cookies()
        return LoginExpiredError(status)
    if status == 429:
        return RateLimitedError((headers or {}).get("retry-after"))
    return ClientChangedError(f"the gateway refused the WebSocket handshake with HTTP {status}")


def _graphql_data(text: str) -> dict[str, Any]:
    try:
        data = json.loads(text)
    except ValueError:
        raise GeoBlockedError() from None  # the web host answers non-JSON where it is blocked
    if not isinstance(data, dict):
        raise GeoBlockedError()
    if errors := data.get("errors"):
        first = errors[0] if isinstance(errors, list) and errors else errors
        message = first.get("message") if isinstance(first, dict) else first
        raise error_from_text(str(message))
    return data.get("data") or {}
