"""The fake's gateway dialect: the challenge page, the home page with an ``ecto1:`` token,
the GraphQL warm-up and mode calls, and the WebSocket with its binary frames, checked as
strictly as the protocol page describes the real gateway."""

from __future__ import annotations

import asyncio
import base64
import json
import secrets
import time
import uuid
from typing import TYPE_CHECKING, Any

from aiohttp import WSMsgType, web

from metaai_ls.provider import frames, protowire

if TYPE_CHECKING:
    from .fake_meta import FakeMetaAI, RecordedRequest

LOGIN_COOKIE = "ecto_1_sess"
APP_ID = "1522763855472543"
WARMUP_DOC_ID = "e7f802582dbfed8e181b012e010993eb"
MODE_DOC_ID = "c32bbe999c48e64e855dc63177d5153f"
CHALLENGE_COOKIE = "rd_challenge"
CHALLENGE_PATH = "/__rd_verify_fake7c1?challenge=3"
MODES = {1000: "MODE_FAST", 1001: "mode_thinking"}
# Where the real gateway needs the conversation id: elsewhere it ignores the turn.
CONVERSATION_FIELDS = ("1.1.5.5.1", "1.10.4", "2.1.2.1")


def home(fake: FakeMetaAI, recorded: RecordedRequest) -> web.Response:
    from .fake_meta import _html, _page

    challenged = fake.scenario in ("challenge", "challenge_stays")
    if challenged and recorded.cookies.get(CHALLENGE_COOKIE) != "solved":
        script = f"fetch('{CHALLENGE_PATH}', {{method: 'POST'}}).then(() => location.reload())"
        return _html(f"<html><script>{script}</script></html>", 403)
    if not recorded.cookies.get(LOGIN_COOKIE) or fake.scenario == "expired":
        return _html(_page('{"user":null}'))
    token = "ecto1:" + secrets.token_urlsafe(240)
    fake.tokens[token] = time.monotonic()
    # As the real page: an escaped JSON property inside a script.
    return _html(_page(f'{{"props":"{{\\"accessToken\\":\\"{token}\\",\\"x\\":1}}"}}'))


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
    if fake.scenario == "client_changed" or doc_id not in (WARMUP_DOC_ID, MODE_DOC_ID):
        return web.json_response({"errors": [{"message": 'Unknown type "EctoWarmupInput"'}]})
    if doc_id == WARMUP_DOC_ID:
        return web.json_response({"data": {"warmupConversation": True}})
    mode = body.get("variables", {}).get("input", {}).get("mode")
    return web.json_response({"data": {"setMode": {"mode": mode}}})


def _refusal(fake: FakeMetaAI, recorded: RecordedRequest) -> web.Response | None:
    query = recorded.query
    issued = fake.tokens.get(query.get("Authorization", ""))
    if fake.scenario in ("unauthorized", "forbidden"):
        return web.Response(status=401 if fake.scenario == "unauthorized" else 403)
    if fake.scenario == "rate_limited":
        return web.Response(status=429, headers={"Retry-After": "30"})
    if issued is None or time.monotonic() - issued > fake.token_lifetime:
        return web.Response(status=401, text="bad token")
    if query.get("x-dgw-appid") != APP_ID or query.get("x-dgw-version") != "5":
        return web.Response(status=400, text="bad gateway parameters")
    if not recorded.headers.get("Origin"):
        return web.Response(status=403, text="no origin")
    return None


async def socket(
    fake: FakeMetaAI, request: web.Request, recorded: RecordedRequest
) -> web.StreamResponse:
    if (refusal := _refusal(fake, recorded)) is not None:
        return refusal
    ws = web.WebSocketResponse(autoping=True, max_msg_size=64 << 20)
    await ws.prepare(request)
    fake.sockets += 1
    await ws.send_bytes(frames.frame(7, b"\x01"))  # a greeting the client must not need
    turn = _Turn(fake, ws, recorded.query.get("Authorization", ""))
    try:
        async for message in ws:
            if message.type != WSMsgType.BINARY:
                continue
            for frame in frames.read_frames(message.data):
                await turn.on_frame(frame, message.data)
            if turn.closed:
                break
    finally:
        if turn.record is not None and not turn.record.finished:
            turn.record.client_gone_at = time.monotonic()
            await fake.notify()
    return ws


class _Turn:
    def __init__(self, fake: FakeMetaAI, ws: web.WebSocketResponse, token: str) -> None:
        self.fake = fake
        self.ws = ws
        self.token = token
        self.conversation_id: str | None = None
        self.opened_at = 0.0
        self.record = None
        self.closed = False

    async def on_frame(self, frame: frames.Frame, raw: bytes) -> None:
        if frame.type == frames.OPEN:
            self.conversation_id = json.loads(frame.body).get("x-dgw-app-x-ecto-conversation-id")
            self.opened_at = time.monotonic()
            if self.fake.scenario != "no_ack":
                await self.ws.send_bytes(frames.frame(frames.ACK, b'{"code":200}'))
        elif frame.type == frames.DATA:
            length = int.from_bytes(raw[3:6], "little")
            if length != len(frame.body) + 2:
                return  # the real gateway drops it without a word
            if time.monotonic() - self.opened_at < self.fake.debounce:
                return  # sent before the gateway was ready for it
            await self.on_message(json.loads(frame.body))

    async def on_message(self, body: dict[str, Any]) -> None:
        from .fake_meta import SentMessage, StreamRecord

        message = base64.b64decode(body["payload"])
        prompt = (protowire.find(message, "2.2") or b"").decode("utf-8")
        ids = [(protowire.find(message, path) or b"").decode() for path in CONVERSATION_FIELDS]
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
        }
        self.fake.messages.append(SentMessage("gateway", prompt, self.conversation_id, fields))
        if any(found != self.conversation_id for found in ids):
            return  # the real gateway ignores such a turn: silence
        answer, scenario = self.fake.choose(prompt)
        record = StreamRecord(self.conversation_id or "", scenario, time.monotonic())
        self.record = record
        await self.fake.add_stream(record)
        if scenario == "leaky_error":
            await _send_event(
                self.ws, 0, {"errors": [{"message": self.fake.leaky_text(self.token)}]}
            )
            return
        await _stream(self.fake, self.ws, answer.text, scenario, record)
        self.closed = scenario in ("cut", "reset")


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
    if scenario == "slow_first_byte":
        await asyncio.sleep(fake.slow_seconds)
    if scenario == "hang":
        await asyncio.sleep(3600)
    response_id = uuid.uuid4().hex[:8]
    events = _events(text, fake.chunk_size, scenario, response_id)
    if scenario in ("cut", "reset", "errors_line"):
        events = events[: max(1, len(events) // 2)]
    if scenario == "out_of_order":
        for i in range(1, len(events) - 1, 2):
            events[i], events[i + 1] = events[i + 1], events[i]
    for number, event in enumerate(events):
        if scenario == "garbage":
            await ws.send_bytes(frames.frame(9))  # a ping frame of the gateway's own
            await ws.send_bytes(frames.frame(frames.DATA, b"\x00\x80not json"))
        if record.first_line_at is None:
            record.first_line_at = time.monotonic()
        await _send_event(ws, number, event, trailer=number % 3 == 1)
        await fake.pace(scenario)
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


def _events(text: str, size: int, scenario: str, response_id: str) -> list[dict[str, Any]]:
    from .fake_meta import pieces

    chunks = pieces(text, size) or [""]
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
    body = json.dumps(event, ensure_ascii=False).encode() + (b"\x00\x12" if trailer else b"")
    header = bytes([frames.DATA]) + b"\x00\x00" + (len(body) + 2).to_bytes(3, "little")
    await ws.send_bytes(header + bytes([sequence & 0xFF, 0x80]) + body)
