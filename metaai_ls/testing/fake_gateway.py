"""The fake's gateway dialect: the challenge page, the home page with an ``ecto1:`` token,
the GraphQL warm-up and mode calls, and the WebSocket with its binary frames, checked as
strictly as the protocol page describes the real gateway."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import itertools
import json
import secrets
import time
import urllib.parse
import uuid
from typing import TYPE_CHECKING, Any

from aiohttp import WSMsgType, web

from metaai_ls.provider import frames, protowire

from .texts import deep_json, js_json, pieces

if TYPE_CHECKING:
    from .fake_meta import FakeMetaAI, RecordedRequest, StreamRecord

LOGIN_COOKIE = "ecto_1_sess"
APP_ID = "1522763855472543"
WARMUP_DOC_ID = "e7f802582dbfed8e181b012e010993eb"
MODE_DOC_ID = "c32bbe999c48e64e855dc63177d5153f"
CHALLENGE_COOKIE = "rd_challenge"
CHALLENGE_PATH = "/__rd_verify_fake7c1?challenge=3"
MODES = {1000: "MODE_FAST", 1001: "mode_thinking"}
# Where the real gateway needs the conversation id: elsewhere it ignores the turn.
CONVERSATION_FIELDS = ("1.1.5.5.1", "1.10.4", "2.1.2.1")
DRAIN, DEAUTH, PING, PONG = 3, 4, 9, 10
FAR_SECTION = 2_000_000


def home(fake: FakeMetaAI, recorded: RecordedRequest) -> web.Response:
    from .fake_meta import _html, _page

    challenged = fake.scenario in ("challenge", "challenge_stays", "challenge_200")
    if challenged and recorded.cookies.get(CHALLENGE_COOKIE) != "solved":
        script = f"fetch('{CHALLENGE_PATH}', {{method: 'POST'}}).then(() => location.reload())"
        status = 200 if fake.scenario == "challenge_200" else 403
        return _html(f"<html><script>{script}</script></html>", status)
    if not recorded.cookies.get(LOGIN_COOKIE) or fake.scenario == "expired":
        return _html(_page('{"user":null}'))
    token = "ecto1:" + secrets.token_urlsafe(240)
    fake.tokens[token] = time.monotonic()
    # As the profile's page: today's, an escaped JSON property inside a script.
    return _html(_page(fake.profile.home_script(token)), 200)


def verify(fake: FakeMetaAI, request: web.Request) -> web.Response:
    response = web.Response(text="ok")
    if request.query.get("challenge") == "3" and fake.scenario != "challenge_stays":
        response.set_cookie(CHALLENGE_COOKIE, "solved", path="/")
    response.set_cookie("wd", "1280x720", path="/")
    return response


def graphql(fake: FakeMetaAI, recorded: RecordedRequest) -> web.Response:
    if not recorded.cookies.get(LOGIN_COOKIE):
        return web.Response(status=401, text='{"error":"authentication required"}')
    body = recorded.json if isinstance(recorded.json, dict) else {}
    doc_id = body.get("doc_id")
    profile = fake.profile
    if fake.scenario == "client_changed":
        return web.json_response({"errors": [{"message": 'Unknown type "EctoWarmupInput"'}]})
    if doc_id not in (profile.warmup_doc_id, profile.mode_doc_id):
        return web.json_response({"errors": [{"message": "PersistedQueryNotFound"}]})
    if doc_id == profile.warmup_doc_id:
        return web.json_response({"data": {"warmupConversation": True}})
    mode = body.get("variables", {}).get("input", {}).get("mode")
    return web.json_response({"data": {"setMode": {"mode": mode}}})


def _token_in(fake: FakeMetaAI, query: Any) -> str:
    name = next((k for k, v in fake.profile.query.items() if v == "{access_token}"), "")
    return query.get(name, "")


def _refusal(fake: FakeMetaAI, recorded: RecordedRequest) -> web.Response | None:
    query = recorded.query
    issued = fake.tokens.get(_token_in(fake, query))
    if fake.scenario in ("unauthorized", "forbidden"):
        return web.Response(status=401 if fake.scenario == "unauthorized" else 403)
    if fake.scenario == "rate_limited":
        return web.Response(status=429, headers={"Retry-After": "30"})
    if fake.scenario == "redirect" and fake.redirect_to:
        # Where a hostile gateway sends the handshake: the query (the token) goes along.
        location = fake.redirect_to + "?" + urllib.parse.urlencode(recorded.query)
        return web.Response(status=302, headers={"Location": location})
    if issued is None or time.monotonic() - issued > fake.token_lifetime:
        return web.Response(status=401, text="bad token")
    if (problem := fake.profile.query_problem(query)) is not None:
        return web.Response(status=400, text=f"bad gateway parameters ({problem})")
    if query.get("x-dgw-appid") != fake.profile.app_id:
        return web.Response(status=400, text="bad gateway parameters (app id)")
    if not recorded.headers.get("Origin"):
        return web.Response(status=403, text="no origin")
    return None


async def socket(
    fake: FakeMetaAI, request: web.Request, recorded: RecordedRequest
) -> web.StreamResponse:
    await fake.delay("handshake")
    if (refusal := _refusal(fake, recorded)) is not None:
        return refusal
    # autoping off: the fake answers WebSocket pings itself and counts the client's pongs.
    ws = web.WebSocketResponse(autoping=False, max_msg_size=64 << 20)
    await ws.prepare(request)
    fake.sockets += 1
    fake.open_sockets.add(ws)
    await ws.send_bytes(frames.frame(7, b"\x01"))  # a greeting the client must not need
    turn = _Turn(fake, ws, _token_in(fake, recorded.query))
    try:
        async for message in ws:
            if message.type == WSMsgType.PING:
                await ws.pong(message.data)
            elif message.type == WSMsgType.PONG:
                fake.pongs["websocket"] += 1
            elif message.type == WSMsgType.BINARY:
                for frame in frames.read_frames(message.data):
                    await turn.on_frame(frame, message.data)
    finally:
        fake.open_sockets.discard(ws)
        await turn.stop()
    return ws


class _Turn:
    """One client socket: its stream (the conversation it was opened for), the data-frame
    sequence it expects next, and the turn being answered. Turns run as tasks, so the
    socket is read all along (pongs, a second open frame, the client going away)."""

    def __init__(self, fake: FakeMetaAI, ws: web.WebSocketResponse, token: str) -> None:
        self.fake = fake
        self.ws = ws
        self.token = token
        self.conversation_id: str | None = None
        self.opened_at = 0.0
        self.next_sequence = 0  # for the first message on this socket, +1 for each later one
        self.record: StreamRecord | None = None
        self.answering: asyncio.Task[None] | None = None
        self.tasks: set[asyncio.Task[None]] = set()

    def spawn(self, coroutine: Any) -> asyncio.Task[None]:
        task = asyncio.create_task(coroutine)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)
        return task

    async def stop(self) -> None:
        for task in list(self.tasks):
            task.cancel()
        for task in list(self.tasks):
            with contextlib.suppress(asyncio.CancelledError, ConnectionError, RuntimeError):
                await task
        if self.record is not None and not self.record.finished:
            self.record.client_gone_at = time.monotonic()
            await self.fake.notify()

    async def on_frame(self, frame: frames.Frame, raw: bytes) -> None:
        if frame.type == frames.OPEN:
            payload = json.loads(frame.body)
            if any(key not in payload for key in self.fake.profile.open_payload):
                return  # a stream opened the old way is never acknowledged
            self.conversation_id = payload.get(self.fake.profile.conversation_key)
            self.opened_at = time.monotonic()
            self.spawn(self.acknowledge())
        elif frame.type == PONG:
            self.fake.pongs["gateway"] += 1
        elif frame.type == frames.DATA:
            self.on_data(frame, raw)

    async def acknowledge(self) -> None:
        if self.fake.scenario == "greeting":  # a frame without text before the ack
            await _send_event(self.ws, 0, {"type": "status", "status": "connected"})
        await self.fake.delay("ack")  # the gateway debounces a new stream
        if self.fake.scenario != "no_ack":
            await self.ws.send_bytes(frames.frame(frames.ACK, b'{"code":200}'))

    def on_data(self, frame: frames.Frame, raw: bytes) -> None:
        length = int.from_bytes(raw[3:6], "little")
        arrived = time.monotonic()
        why = None
        if length != len(frame.body) + 2:
            why = "length"  # the real gateway drops it without a word
        elif self.conversation_id is None:
            why = "no stream"
        elif frame.sequence != self.next_sequence % 256:
            why = "sequence"
        elif arrived - self.opened_at < self.fake.debounce:
            why = "debounce"  # sent before the gateway was ready for it
        elif self.answering is not None and not self.answering.done():
            why = "busy"
        if why is not None:
            self.fake.dropped.append(why)
            return
        self.next_sequence += 1
        self.answering = self.spawn(self.on_message(json.loads(frame.body)))

    async def on_message(self, body: dict[str, Any]) -> None:
        from .fake_meta import SentMessage, StreamRecord

        message = base64.b64decode(body["payload"])
        prompt = (protowire.find(message, "2.2") or b"").decode("utf-8")
        profile = self.fake.profile
        ids = [
            (protowire.find(message, path) or b"").decode() for path in profile.conversation_fields
        ]
        fields = {
            "req_id": body.get("req-id"),
            "request_id_in_message": (protowire.find(message, "1.6") or b"").decode(),
            "entry_point": (protowire.find(message, "1.1.1") or b"").decode(),
            "app_id": (protowire.find(message, "1.1.2") or b"").decode(),
            "mode_id": protowire.find(message, "1.1.12.3.1"),
            "mode_name": (protowire.find(message, "1.1.12.3.2") or b"").decode(),
            "branch_path": (protowire.find(message, "2.4.1") or b"").decode(),
            "conversation_ids": ids,
            "message_key": protowire.find(message, "2.1.2.3"),
            "sent_at_ms": protowire.find(message, "2.1.2.2"),
            "account_id": protowire.find(message, "1.2.1"),
            "user_agent": (protowire.find(message, "1.1.15") or b"").decode(),
            "socket": id(self.ws),
            "sequence": self.next_sequence - 1,
        }
        self.fake.messages.append(SentMessage("gateway", prompt, self.conversation_id, fields))
        if any(found != self.conversation_id for found in ids):
            return  # the real gateway ignores such a turn: silence
        if any(protowire.find(message, path) != value for path, value in profile.required):
            return  # a flag the client did not send: ignored too
        await self.ws.send_bytes(frames.frame(frames.ACK))  # the small ack of a message
        answer, scenario = self.fake.choose(prompt)
        if scenario == "drop_once" and self.fake.dropped_turns == 0:
            self.fake.dropped_turns += 1
            self.fake.answers.appendleft(answer)  # the next turn gets it
            await self.ws.close()  # gone before any text: the turn must be sent again
            return
        record = StreamRecord(self.conversation_id or "", scenario, time.monotonic())
        self.record = record
        await self.fake.add_stream(record)
        if scenario == "leaky_error":
            await _send_event(
                self.ws, 0, {"errors": [{"message": self.fake.leaky_text(self.token)}]}
            )
            return
        await _stream(self.fake, self.ws, answer.text, scenario, record)
        if scenario in ("drain", "deauth"):  # after the turn, while the socket is idle
            await self.ws.send_bytes(frames.frame(DRAIN if scenario == "drain" else DEAUTH))
        elif self.fake.idle_pings and not self.ws.closed:
            self.spawn(self.ping_while_idle())
        if self.fake.idle_close and not self.ws.closed:
            self.spawn(self.close_when_idle())

    async def ping_while_idle(self) -> None:
        """The gateway's pings (type 9) and WebSocket pings, while nothing streams."""
        for _ in range(200):  # bounded
            await asyncio.sleep(self.fake.idle_pings)
            if self.ws.closed or (self.answering is not None and not self.answering.done()):
                return
            await self.ws.send_bytes(frames.frame(PING, b"\x01"))
            await self.ws.ping(b"fake")

    async def close_when_idle(self) -> None:
        turn = self.answering
        await asyncio.sleep(self.fake.idle_close)
        if self.answering is turn:  # no turn since
            self.fake.idle_closed += 1
            await self.ws.close(code=1000, message=b"idle")


async def _flood(fake: FakeMetaAI, ws: web.WebSocketResponse, scenario: str) -> None:
    """Activity without answer text, after some text, until the client gives up (bounded)."""
    for _ in range(int(60 / 0.05)):
        if scenario == "ping_flood":
            await ws.send_bytes(frames.frame(PING, b"\x03"))
            await ws.ping(b"flood")
        else:
            await ws.send_bytes(frames.frame(0x21, b"unknown"))
            await _send_event(ws, 0, {"type": "status", "status": "still here"})
        await asyncio.sleep(0.05)


async def _stream(
    fake: FakeMetaAI, ws: web.WebSocketResponse, text: str, scenario: str, record: Any
) -> None:
    from .fake_meta import FakeAnswer

    rejected = scenario == "rejected_always" or (
        scenario == "rejected" and fake.rejected_turns == 0
    )
    if rejected:
        fake.rejected_turns += 1
        fake.answers.appendleft(FakeAnswer(text))  # the next turn gets it
        await ws.send_bytes(frames.frame(frames.END))
        record.finished = True
        return
    if scenario in ("unauthorized", "forbidden"):
        await ws.close(code=4001 if scenario == "unauthorized" else 4003)
        return
    if scenario == "rate_limited":
        await _send_event(ws, 0, {"errors": [{"message": "Rate limit exceeded, try later"}]})
        return
    if scenario == "blocked":
        await _send_event(ws, 0, {"errors": [{"message": "blocked by our security system"}]})
        return
    if scenario == "slow_first_byte":  # silent after the small ack, then the answer
        await asyncio.sleep(fake.slow_seconds)
    if scenario == "hang":
        await asyncio.sleep(3600)
    if scenario == "endless":
        await _endless(fake, ws, text)
        return
    await fake.delay("first_text")  # the model's time before its first text
    response_id = uuid.uuid4().hex[:8]
    events = _events(text, fake.chunk_size, scenario, response_id)
    if scenario in ("cut", "reset", "errors_line"):
        events = events[: max(1, len(events) // 2)]
    if scenario == "out_of_order":
        for i in range(1, len(events) - 1, 2):
            events[i], events[i + 1] = events[i + 1], events[i]
    for number, event in enumerate(events):
        if scenario == "garbage":
            await ws.send_bytes(frames.frame(PING))  # a ping frame of the gateway's own
            await ws.send_bytes(frames.frame(frames.DATA, b"\x00\x80not json"))
        if scenario == "deep" and number == len(events) // 2:
            await ws.send_bytes(frames.frame(frames.DATA, b"\x00\x80" + deep_json()))
        if scenario == "pings":
            await ws.send_bytes(frames.frame(PING, b"\x02"))
            await ws.ping(b"fake")
        if record.first_line_at is None:
            record.first_line_at = time.monotonic()
        await _send_event(ws, number, event, trailer=number % 3 == 1)
        await fake.pace(scenario)
        if scenario in ("ping_flood", "unknown_flood") and number == 1:
            await _flood(fake, ws, scenario)
            return
    if scenario == "errors_line":
        await _send_event(ws, 99, {"errors": [{"message": "A server error field_exception."}]})
        return
    if scenario == "reset":
        ws._req.transport.close()  # no close frame: the client sees the connection drop
        return
    if scenario == "cut":
        await ws.close()
        return
    final_text = text + " (revised)" if scenario == "revised" else text
    await _send_event(ws, 0, {"response_id": response_id, "sections": _sections(final_text)})
    await ws.send_bytes(frames.frame(frames.END))
    record.finished = True
    await fake.notify()


async def _endless(fake: FakeMetaAI, ws: web.WebSocketResponse, text: str) -> None:
    """Deltas of about 1 KiB, for ever: the client must stop at its cap."""
    piece = (text + " ") * (1024 // (len(text) + 1) + 1)
    path = "/sections/0/view_model/primitive/text"
    first = {"type": "full", "seq": 0, "response": {"sections": _sections(piece)}}
    await _send_event(ws, 0, first)
    with contextlib.suppress(ConnectionResetError):  # the client stopped reading: done
        for seq in itertools.count(1):
            delta = {"op": "delta", "path": path, "value": piece}
            await _send_event(ws, seq, {"type": "patch", "seq": seq, "operations": [delta]})
            await fake.pace("endless")
            await asyncio.sleep(0)


def _events(text: str, size: int, scenario: str, response_id: str) -> list[dict[str, Any]]:

    chunks = pieces(text, size, scenario == "utf16") or [""]
    path = "/sections/0/view_model/primitive/text"
    events: list[dict[str, Any]] = []
    if scenario == "thinking":
        thinking = {"__typename": "GenAIThinkingUXPrimitive", "text": "Let me think"}
        events.append(
            {
                "type": "full",
                "response": {
                    "response_id": response_id,
                    "sections": [{"view_model": {"primitive": thinking}}],
                },
            }
        )
        path = "/sections/1/view_model/primitive/text"
        events.append(
            {
                "type": "patch",
                "operations": [
                    {
                        "op": "delta",
                        "path": "/sections/0/view_model/primitive/text",
                        "value": " hard.",
                    },
                    {
                        "op": "add",
                        "path": "/sections/1",
                        "value": {
                            "view_model": {
                                "primitive": {
                                    "__typename": "GenAIMarkdownTextUXPrimitive",
                                    "text": chunks[0],
                                }
                            }
                        },
                    },
                    {
                        "op": "delta",
                        "path": "/sections/0/embedded_screens/0/body",
                        "value": "hidden",
                    },
                ],
            }
        )
    else:
        events.append(
            {
                "type": "full",
                "response": {"response_id": response_id, "sections": _sections(chunks[0])},
            }
        )
    if scenario == "far_section":  # a hostile delta far beyond the sections there are
        far = f"/sections/{FAR_SECTION}/view_model/primitive/text"
        events.append(
            {"type": "patch", "operations": [{"op": "delta", "path": far, "value": "x" * 80}]}
        )
    sent = chunks[0]
    for index, chunk in enumerate(chunks[1:], start=1):
        sent += chunk
        if index % 10 == 0 and scenario != "thinking":
            events.append(
                {
                    "type": "full",
                    "response": {"response_id": response_id, "sections": _sections(sent)},
                }
            )
        else:
            events.append(
                {"type": "patch", "operations": [{"op": "delta", "path": path, "value": chunk}]}
            )
    for seq, event in enumerate(events):
        event["seq"] = seq
    return events


def _sections(text: str) -> list[dict[str, Any]]:
    primitive = {"__typename": "GenAIMarkdownTextUXPrimitive", "text": text}
    return [{"view_model": {"__typename": "GenAISingleLayoutViewModel", "primitive": primitive}}]


async def _send_event(
    ws: web.WebSocketResponse, sequence: int, event: dict[str, Any], trailer: bool = False
) -> None:
    body = js_json(event) + (b"\x00\x12" if trailer else b"")
    header = bytes([frames.DATA]) + b"\x00\x00" + (len(body) + 2).to_bytes(3, "little")
    await ws.send_bytes(header + bytes([sequence & 0xFF, 0x80]) + body)
