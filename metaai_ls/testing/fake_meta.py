"""A local Meta AI that speaks the real protocols over a real socket (aiohttp.web): the
gateway dialect (default), the Abra dialect (``dialect="abra"``) and the Meta Model API
(``/v1``), all on one port.

Scenarios choose how an answer goes wrong. A scenario applies to every request
(``fake.scenario = "geo"`` or ``POST /__fake__/config``) or to one prompt (a
``[[fake:NAME]]`` marker in the prompt text). Queued answers (``fake.answers``) are used
in turn; without one, the answer says what was asked. Every request is recorded.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import contextlib
import dataclasses
import errno
import json
import os
import re
import shutil
import signal
import sys
import tempfile
import time
import urllib.parse
import uuid
from typing import Any

from aiohttp import web

from metaai_ls.terminal import run_async, run_command, say

from . import fake_api, fake_gateway, profiles
from .texts import cumulative, deep_json, js_json, pieces

__all__ = ["FakeMetaAI", "cumulative", "pieces"]

LSD = "fake-lsd-token"
DTSG = "fake-dtsg-token"
ACCESS_TOKEN = "fake-temp-user-token"
VISITOR_COOKIES = {"_js_datr": "fake-js-datr", "abra_csrf": "fake-csrf", "datr": "fake-datr"}
DIALECTS = ("gateway", "abra")

SCENARIOS = {
    "ok": "a complete answer",
    "code": "an answer with one fenced code block (a Python function), as a refactor gets",
    "long": "a long answer: 300 numbered lines, with code blocks",
    "sources": "a complete answer, then sources (Abra) or a search-results link (gateway)",
    "image": "a complete answer with a generated image",
    "error_page": "Meta's 'Something Went Wrong' page (as a marker: the Abra dialect's answer)",
    "errors_line": "a few lines of answer, then an `errors` list",
    "unauthorized": "HTTP 401 (a gateway turn: close code 4001)",
    "forbidden": "HTTP 403 (a gateway turn: close code 4003)",
    "rate_limited": "HTTP 429 with Retry-After (a gateway turn: a rate-limit error)",
    "geo": "a home page saying AbraGeoBlockedError",
    "garbage": "blank, non-JSON and unknown frames or lines mixed into a complete answer",
    "cut": "the stream ends before the answer is complete",
    "reset": "the connection is dropped mid-stream",
    "slow_first_byte": "the first byte of the answer comes after `slow_seconds` (0.3 s)",
    "hang": "nothing after the request was taken, until the client gives up",
    "slow": "a complete answer, one piece every `slow_interval` seconds (0.05 s)",
    "expired": "gateway: a home page without an access token (the login expired)",
    "challenge": "gateway: the home page answers 403 with the challenge page first",
    "challenge_stays": "gateway: the challenge page comes back after it was solved",
    "challenge_200": "gateway: the challenge page first, with status 200 instead of 403",
    "rejected": "gateway: the first turn ends with no text (a rejected token); later ones work",
    "rejected_always": "gateway: every turn ends with no text",
    "no_ack": "gateway: the open frame is never acknowledged",
    "out_of_order": "gateway: answer events arrive out of `seq` order",
    "thinking": "gateway: a reasoning section before the answer",
    "revised": "gateway: the final answer differs from the streamed text",
    "client_changed": "gateway: GraphQL answers `Unknown type` (Meta changed its client)",
    "blocked": "gateway: an error event 'blocked by our security system'",
    "bad_key": "API: every key is refused (HTTP 401)",
    "greeting": "gateway: a status frame without text before the stream's acknowledgement",
    "pings": "gateway: a gateway ping (type 9) and a WebSocket ping before every event",
    "ping_flood": "after some text, only pings (gateway: type 9 and WebSocket; API: SSE keep-alives and empty deltas) until the client gives up",
    "unknown_flood": "gateway: after some text, only unknown and text-less frames until the client gives up",
    "trickle_home": "gateway: the home page trickles at one byte every `slow_interval` seconds",
    "far_section": "gateway: a delta addressed to /sections/2000000 in the middle of the answer",
    "drop_once": "gateway: the first such turn's socket closes before any text; later ones work",
    "drain": "gateway: after the answer, a drain frame (type 3) on the idle socket",
    "deauth": "gateway: after the answer, a de-auth frame (type 4) on the idle socket",
    "redirect": "gateway: the WebSocket handshake is redirected to `redirect_to`, query and all",
    "leaky_error": "an error whose text echoes the request's cookie header and access token "
    "(API: its key), as a careless server's error page does",
    "utf16": "the answer cut into pieces by UTF-16 units, as a JavaScript server slices "
    "strings: a surrogate pair (an emoji) may be split across two pieces",
    "deep": "an event (Abra: a line; API: a chunk) nested 100,000 levels deep mid-answer",
    "endless": "gateway and API: an answer that never ends, until the client stops reading",
    "huge_page": "a home page of 300 MB, sent in pieces",
    "huge_cookie": "the home page sets a cookie of 20 KB",
    "many_cookies": "the home page sets 5,000 cookies",
    "length": 'API: the output limit is hit before any text (`finish_reason: "length"`)',
    "length_after_text": "API: the output limit is hit halfway through the answer",
}
# Scenarios of the home page, the login or the handshake: `--scenario` (or the config
# endpoint) only, since no prompt has been sent when they apply.
GLOBAL_ONLY = (
    "geo",
    "expired",
    "challenge",
    "challenge_stays",
    "challenge_200",
    "client_changed",
    "no_ack",
    "bad_key",
    "greeting",
    "trickle_home",
    "redirect",
    "huge_page",
    "huge_cookie",
    "many_cookies",
)
# Latencies of the real site, in seconds, when asked for (`latencies`); none by default.
LATENCIES = ("home", "graphql", "handshake", "ack", "first_text")
MARKER = re.compile(r"\[\[fake:([a-z0-9_]+)\]\]")
ERROR_PAGE = "<html><body><h1>Something Went Wrong</h1><p>Please try again.</p></body></html>"


@dataclasses.dataclass
class FakeAnswer:
    text: str
    scenario: str | None = None


@dataclasses.dataclass
class RecordedRequest:
    method: str
    path: str
    host: str
    headers: dict[str, str]
    cookies: dict[str, str]
    form: dict[str, str]
    query: dict[str, str] = dataclasses.field(default_factory=dict)
    json: Any = None
    at: float = dataclasses.field(default_factory=time.monotonic)  # comparable across processes

    @property
    def variables(self) -> dict[str, Any]:
        if isinstance(self.json, dict):
            return self.json.get("variables") or {}
        return json.loads(self.form.get("variables") or "{}")

    @property
    def friendly_name(self) -> str | None:
        return self.form.get("fb_api_req_friendly_name")


@dataclasses.dataclass
class SentMessage:
    """One prompt as Meta AI received it, whatever the door."""

    dialect: str  # "gateway", "abra" or "api"
    prompt: str
    conversation_id: str | None
    fields: dict[str, Any] = dataclasses.field(default_factory=dict)


@dataclasses.dataclass
class StreamRecord:
    """How one streamed answer ended, seen from the server."""

    conversation_id: str
    scenario: str
    started: float
    first_line_at: float | None = None
    finished: bool = False
    client_gone_at: float | None = None
    sent_bytes: int = 0


class FakeMetaAI:
    def __init__(
        self,
        *,
        dialect: str = "gateway",
        chunk_size: int = 6,
        interval: float = 0.0,
        slow_interval: float = 0.05,
        slow_seconds: float = 0.3,
        debounce: float = 0.0,
        send_doc_id: str = "7783822248314888",
    ) -> None:
        if dialect not in DIALECTS:
            raise ValueError(f"dialect must be one of {DIALECTS}")
        self.dialect = dialect
        self.profile = profiles.DEFAULT  # the web client it serves and requires
        self.scenario = "ok"
        self.answers: collections.deque[FakeAnswer] = collections.deque()
        self.chunk_size = chunk_size
        self.interval = interval
        self.slow_interval = slow_interval
        self.slow_seconds = slow_seconds
        self.debounce = debounce  # the gateway ignores data sent this soon after opening
        self.send_doc_id = send_doc_id
        self.token_lifetime = 300.0
        self.api_key = "fake-api-key"
        self.api_models = [
            "muse-spark-1.1",
            "muse-spark-1.2",
            "muse-spark-1.3",
            "muse-ember-1.0",
            "muse-wonder-1.0",
        ]
        self.requests: list[RecordedRequest] = []
        self.messages: list[SentMessage] = []
        self.streams: list[StreamRecord] = []
        self.tokens: dict[str, float] = {}  # access token -> when issued
        self.rejected_turns = 0
        self.dropped_turns = 0
        self.sockets = 0
        self.open_sockets: set[web.WebSocketResponse] = set()
        self.pongs = {"gateway": 0, "websocket": 0}  # the client's answers to pings
        self.dropped: list[str] = []  # data frames the gateway dropped, and why
        self.latencies = dict.fromkeys(LATENCIES, 0.0)
        self.idle_pings = 0.0  # seconds between pings on an idle socket (0: none)
        self.idle_close = 0.0  # close a socket this long after its last turn (0: never)
        self.idle_closed = 0
        self.redirect_to = ""  # the `redirect` scenario's Location (without the query)
        self.last_cookie_header = ""  # for the `leaky_error` scenario
        self.stream_changed = asyncio.Condition()
        self.held: int | None = None  # pieces streams may still send (None: not held)
        self._gate = asyncio.Condition()
        self.url = ""
        self._runner: web.AppRunner | None = None
        self.app = self._make_app()

    # -- lifecycle

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> str:
        self._runner = web.AppRunner(self.app, handler_cancellation=True, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, host, port)
        await site.start()
        bound = self._runner.addresses[0]
        self.url = f"http://{bound[0]}:{bound[1]}"
        return self.url

    @property
    def gateway_url(self) -> str:
        return self.url.replace("http://", "ws://", 1) + "/ws/clippy"

    @property
    def api_url(self) -> str:
        return self.url + "/v1"

    def environment(self) -> dict[str, str]:
        """The documented variables that point every door at this fake."""
        return {
            "METAAI_URL": self.url,
            "METAAI_GRAPH_URL": self.url,
            "METAAI_GATEWAY_URL": self.gateway_url,
            "METAAI_API_URL": self.api_url,
        }

    async def stop(self) -> None:
        for ws in list(self.open_sockets):  # going away: kept client sockets see it
            await ws.close(code=1001, message=b"going away")
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> FakeMetaAI:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    # -- what tests look at

    def sent_messages(self) -> list[SentMessage]:
        return list(self.messages)

    async def wait_for_stream(self, predicate, timeout: float = 5.0) -> StreamRecord:
        """Wait until some stream satisfies ``predicate``."""

        async def found() -> StreamRecord:
            async with self.stream_changed:
                while True:
                    for record in self.streams:
                        if predicate(record):
                            return record
                    await self.stream_changed.wait()

        return await asyncio.wait_for(found(), timeout)

    # -- shared by the doors

    def choose(self, prompt: str) -> tuple[FakeAnswer, str]:
        """The answer to give and how it goes wrong (or what it looks like)."""
        marker = MARKER.search(prompt)
        queued = self.answers.popleft() if self.answers else None
        scenario = marker.group(1) if marker else (queued and queued.scenario) or self.scenario
        if queued is not None:
            return queued, scenario
        return FakeAnswer(SHAPED.get(scenario, _echo)(prompt)), scenario

    async def add_stream(self, record: StreamRecord) -> None:
        self.streams.append(record)
        await self.notify()

    async def notify(self) -> None:
        async with self.stream_changed:
            self.stream_changed.notify_all()

    async def record(self, request: web.Request) -> RecordedRequest:
        body: Any = None
        form: dict[str, str] = {}
        if request.content_type == "application/json":
            with contextlib.suppress(ValueError):
                body = await request.json()
        elif request.method == "POST":
            form = {k: str(v) for k, v in (await request.post()).items()}
        recorded = RecordedRequest(
            request.method,
            request.path,
            request.host,
            dict(request.headers),
            dict(request.cookies),
            form,
            dict(request.query),
            body,
        )
        self.requests.append(recorded)
        if cookie := request.headers.get("Cookie"):
            self.last_cookie_header = cookie
        return recorded

    async def delay(self, step: str) -> None:
        """The real site's latency of one step, when the test or bench asked for it."""
        if seconds := self.latencies.get(step):
            await asyncio.sleep(seconds)

    async def restart(self, close_sockets: bool = True) -> None:
        """As a gateway restart: every token issued is forgotten, open sockets close."""
        self.tokens.clear()
        if close_sockets:
            for ws in list(self.open_sockets):
                await ws.close(code=1012, message=b"restart")

    def leaky_text(self, token: str = "") -> str:
        """An error text that echoes what the request carried (secrets included)."""
        text = f"Invalid request (Cookie: {self.last_cookie_header}"
        if token:
            text += f"; Authorization={urllib.parse.quote(token, safe='')}"
        return text + ")"

    def hold(self) -> None:
        """Streams stop after each piece until the test lets more through (`release`):
        a test that types between pieces does not race the clock."""
        self.held = 0

    async def release(self, pieces: int | None = None) -> None:
        """Let ``pieces`` more pieces through (None: all of them, from now on)."""
        async with self._gate:
            self.held = None if pieces is None else (self.held or 0) + pieces
            self._gate.notify_all()

    async def pace(self, scenario: str) -> None:
        if self.held is not None:
            async with self._gate:
                await self._gate.wait_for(lambda: self.held is None or self.held > 0)
                if self.held is not None:
                    self.held -= 1
        interval = self.slow_interval if scenario == "slow" else self.interval
        if interval:
            await asyncio.sleep(interval)

    # -- the app

    def _make_app(self) -> web.Application:
        app = web.Application(client_max_size=64 << 20)
        app.router.add_get("/", self._home)
        app.router.add_post("/api/graphql/", self._abra_graphql)
        app.router.add_post("/graphql", self._abra_graphql)
        app.router.add_post("/api/graphql", self._gateway_graphql)
        app.router.add_post(r"/__rd_verify_{token}", self._verify)
        app.router.add_get("/ws/clippy", self._socket)
        app.router.add_post("/v1/chat/completions", self._api_chat)
        app.router.add_get("/v1/models", self._api_models)
        app.router.add_post("/__fake__/config", self._configure)
        app.router.add_get("/__fake__/requests", self._list_requests)
        app.router.add_get("/__fake__/streams", self._list_streams)
        app.router.add_get("/__fake__/messages", self._list_messages)
        return app

    async def _home(self, request: web.Request) -> web.StreamResponse:
        recorded = await self.record(request)
        await self.delay("home")
        if self.scenario in ("huge_page", "huge_cookie", "many_cookies"):
            return await self._odd_home(request, self.scenario)
        if self.scenario == "trickle_home":
            return await _trickle(request, _page('{"user":null}'), self.slow_interval)
        if self.scenario == "geo":
            return _html(_page('{"error":"AbraGeoBlockedError"}'))
        if self.scenario == "error_page":
            return _html(ERROR_PAGE, 500)
        if self.dialect == "gateway":
            return fake_gateway.home(self, recorded)
        visitor = "".join(
            f'"{name}":{{"value":"{value}","expires":1}},'
            for name, value in VISITOR_COOKIES.items()
        )
        body = (
            f'["LSD",[],{{"token":"{LSD}"}},1]'
            f'["DTSGInitialData",[],{{"token":"{DTSG}"}},2]'
            f"{{{visitor[:-1]}}}"
        )
        return _html(_page(body))

    async def _odd_home(self, request: web.Request, scenario: str) -> web.StreamResponse:
        """A home page too big to read whole, or one that sets too much of a cookie."""
        response = web.StreamResponse(headers={"content-type": "text/html; charset=utf-8"})
        if scenario == "huge_cookie":
            response.set_cookie("huge", "x" * 20_000)
        elif scenario == "many_cookies":
            for number in range(5000):
                response.set_cookie(f"c{number}", "1")
        await response.prepare(request)
        if scenario != "huge_page":
            await response.write_eof()
            return response
        record = StreamRecord("", scenario, time.monotonic())
        await self.add_stream(record)
        piece = b"<!-- " + b"x" * ((1 << 20) - 9) + b" -->"
        try:
            for _ in range(300):
                await response.write(piece)
                record.sent_bytes += len(piece)
            await response.write_eof()
            record.finished = True
        except (asyncio.CancelledError, ConnectionResetError):
            record.client_gone_at = time.monotonic()
            await self.notify()
            raise
        return response

    async def _verify(self, request: web.Request) -> web.Response:
        await self.record(request)
        return fake_gateway.verify(self, request)

    async def _gateway_graphql(self, request: web.Request) -> web.Response:
        recorded = await self.record(request)
        await self.delay("graphql")
        return fake_gateway.graphql(self, recorded)

    async def _socket(self, request: web.Request) -> web.StreamResponse:
        return await fake_gateway.socket(self, request, await self.record(request))

    async def _api_chat(self, request: web.Request) -> web.StreamResponse:
        return await fake_api.chat(self, request, await self.record(request))

    async def _api_models(self, request: web.Request) -> web.Response:
        return fake_api.models(self, await self.record(request))

    # -- the Abra dialect

    async def _abra_graphql(self, request: web.Request) -> web.StreamResponse:
        recorded = await self.record(request)
        name = recorded.friendly_name
        if name == "useAbraAcceptTOSForTempUserMutation":
            return self._accept_tos(recorded)
        if name == "AbraSearchPluginDialogQuery":
            return self._sources(recorded)
        if name == "useAbraSendMessageMutation":
            return await self._send_message(request, recorded)
        return web.json_response({"errors": [{"message": f"unknown query {name!r}"}]})

    def _accept_tos(self, recorded: RecordedRequest) -> web.Response:
        if recorded.form.get("lsd") != LSD:
            return _html(ERROR_PAGE, 400)
        auth = {"access_token": ACCESS_TOKEN, "user": {"id": "1"}}
        data = {"xab_abra_accept_terms_of_service": {"new_temp_user_auth": auth}}
        return web.json_response({"data": data})

    def _sources(self, recorded: RecordedRequest) -> web.Response:
        fetch_id = recorded.variables.get("abraMessageFetchID")
        if not fetch_id:
            return web.json_response({"data": {"message": None}})
        references = [
            {"title": "Python documentation", "link": "https://docs.python.org/3/"},
            {"title": "PEP 8", "link": "https://peps.python.org/pep-0008/"},
        ]
        return web.json_response(
            {"data": {"message": {"searchResults": {"references": references}}}}
        )

    def _refusal(self, recorded: RecordedRequest) -> web.Response | None:
        """The answer real Meta AI gives a request it does not accept."""
        if recorded.form.get("doc_id") != self.send_doc_id:
            return web.json_response({"errors": [{"message": "PersistedQueryNotFound"}]})
        if recorded.path == "/graphql":
            ok = recorded.form.get("access_token") == ACCESS_TOKEN
        else:
            ok = (
                recorded.form.get("lsd") == LSD
                and recorded.form.get("fb_dtsg") == DTSG
                and recorded.headers.get("x-fb-lsd") == LSD
                and bool(recorded.cookies.get("abra_sess"))
            )
        return None if ok else web.Response(status=401, text="Unauthorized")

    async def _send_message(
        self, request: web.Request, recorded: RecordedRequest
    ) -> web.StreamResponse:
        if (refusal := self._refusal(recorded)) is not None:
            return refusal
        variables = recorded.variables
        prompt = variables.get("message", {}).get("sensitive_string_value", "")
        conversation_id = variables.get("externalConversationId", "")
        self.messages.append(SentMessage("abra", prompt, conversation_id, variables))
        answer, scenario = self.choose(prompt)
        if scenario in ("unauthorized", "forbidden"):
            return web.Response(status=401 if scenario == "unauthorized" else 403, text="Denied")
        if scenario == "rate_limited":
            return web.Response(status=429, text="Too Many Requests", headers={"Retry-After": "30"})
        if scenario == "error_page":
            return _html(ERROR_PAGE)
        if scenario == "leaky_error":
            return web.json_response({"errors": [{"message": self.leaky_text()}]})
        record = StreamRecord(conversation_id, scenario, time.monotonic())
        await self.add_stream(record)
        try:
            return await self._stream(request, answer.text, scenario, record)
        except (asyncio.CancelledError, ConnectionResetError):
            record.client_gone_at = time.monotonic()
            await self.notify()
            raise

    async def _stream(
        self, request: web.Request, text: str, scenario: str, record: StreamRecord
    ) -> web.StreamResponse:
        if scenario == "slow_first_byte":
            await asyncio.sleep(self.slow_seconds)
        response = web.StreamResponse(headers={"content-type": "text/html; charset=utf-8"})
        await response.prepare(request)
        if scenario == "hang":
            await asyncio.sleep(3600)
        message_id = str(uuid.uuid4())
        snippets = cumulative(text, self.chunk_size, scenario == "utf16")
        if scenario in ("cut", "errors_line", "reset"):
            snippets = snippets[: max(1, len(snippets) // 2)]
        for number, snippet in enumerate(snippets):
            if scenario == "garbage":
                await response.write(b"\n\nnot json at all\n[1, 2]\n")
            if scenario == "deep" and number == len(snippets) // 2:
                await response.write(deep_json() + b"\n")
            line = _line(message_id, snippet, "STREAMING")
            if record.first_line_at is None:
                record.first_line_at = time.monotonic()
            await _write_split(response, line)
            await self.pace(scenario)
        if scenario == "errors_line":
            errors = {"errors": [{"message": "A server error field_exception occured."}]}
            await response.write(json.dumps(errors).encode() + b"\n")
        elif scenario == "reset":
            request.transport.close()  # no chunked terminator: the client sees a payload error
            return response
        elif scenario != "cut":
            final = _line(message_id, text, "OVERALL_DONE", scenario)
            await response.write(final)
        await response.write_eof()
        record.finished = True
        await self.notify()
        return response

    # -- control

    async def _configure(self, request: web.Request) -> web.Response:
        config = await request.json()
        if "scenario" in config:
            if config["scenario"] not in SCENARIOS:
                return web.json_response({"error": "unknown scenario"}, status=400)
            self.scenario = config["scenario"]
        if "dialect" in config:
            if config["dialect"] not in DIALECTS:
                return web.json_response({"error": "unknown dialect"}, status=400)
            self.dialect = config["dialect"]
        if config.get("reset"):
            self.answers.clear()
            self.requests.clear()
            self.messages.clear()
            self.streams.clear()
        for text in config.get("answers", []):
            self.answers.append(FakeAnswer(text))
        for name in ("interval", "chunk_size", "slow_interval", "slow_seconds", "debounce"):
            if name in config:
                setattr(self, name, config[name])
        for name in ("idle_pings", "idle_close"):
            if name in config:
                setattr(self, name, float(config[name]))
        unknown = set(config.get("latencies") or {}) - set(LATENCIES)
        if unknown:
            return web.json_response({"error": f"unknown latencies {sorted(unknown)}"}, status=400)
        self.latencies.update({k: float(v) for k, v in (config.get("latencies") or {}).items()})
        if config.get("restart"):  # forget every token (and close the open sockets)
            await self.restart(close_sockets=config["restart"] != "tokens")
        return web.json_response(
            {"scenario": self.scenario, "dialect": self.dialect, "queued": len(self.answers)}
        )

    async def _list_requests(self, request: web.Request) -> web.Response:
        hidden = ("cookie", "authorization")
        listed = []
        for r in self.requests:
            item = dataclasses.asdict(r)
            item["headers"] = {k: v for k, v in r.headers.items() if k.lower() not in hidden}
            item["cookies"] = sorted(r.cookies)  # names only
            item["query"] = {k: v for k, v in r.query.items() if k.lower() not in hidden}
            listed.append(item)
        return web.json_response(listed)

    async def _list_messages(self, request: web.Request) -> web.Response:
        """The prompts received, in order (for tests driving a real editor from outside)."""
        return web.json_response([dataclasses.asdict(m) for m in self.messages])

    async def _list_streams(self, request: web.Request) -> web.Response:
        """How each answer went; times are `time.monotonic()`, comparable across processes."""
        return web.json_response([dataclasses.asdict(s) for s in self.streams])


def _html(text: str, status: int = 200) -> web.Response:
    return web.Response(text=text, status=status, content_type="text/html")


async def _trickle(request: web.Request, text: str, interval: float) -> web.StreamResponse:
    """A page sent one byte at a time (bounded by its length)."""
    response = web.StreamResponse(headers={"content-type": "text/html"})
    await response.prepare(request)
    for byte in text.encode():
        await response.write(bytes([byte]))
        await asyncio.sleep(interval)
    await response.write_eof()
    return response


def _page(body: str) -> str:
    return f"<!DOCTYPE html><html><head><title>Meta AI</title></head><body><script>{body}</script></body></html>"


def _echo(prompt: str) -> str:
    asked = MARKER.sub("", prompt).strip().splitlines()
    first = next((line for line in asked if line.strip()), "")[:200]
    return f"Meta AI (offline fake) read {len(prompt)} characters, beginning: {first}"


def _code_answer(prompt: str) -> str:
    return (
        'Here is a simpler version:\n```python\ndef double(x):\n    """Twice x."""\n'
        "    return 2 * x\n```\nIt multiplies instead of adding."
    )


def _long_answer(prompt: str) -> str:
    lines = []
    for number in range(1, 301):
        if number % 50 == 0:
            lines.append(f"```python\nstep_{number} = {number}  # part {number // 50}\n```")
        else:
            lines.append(f"{number}. The offline fake's long answer goes on, line {number} of 300.")
    return "\n".join(lines)


# Scenarios that shape the answer itself (when no answer is queued).
SHAPED = {"code": _code_answer, "long": _long_answer}


def _line(message_id: str, snippet: str, state: str, scenario: str = "ok") -> bytes:
    message: dict[str, Any] = {"id": message_id, "streaming_state": state, "snippet": snippet}
    if scenario == "sources":
        message["fetch_id"] = "fake-fetch-" + message_id
    if scenario == "image":
        media = [{"uri": "https://example.invalid/fake-image.jpg", "prompt": "a fake cat"}]
        message["imagine_card"] = {"session": {"media_sets": [{"imagine_media": media}]}}
    line = {"data": {"node": {"bot_response_message": message}}}
    return js_json(line) + b"\n"


async def _write_split(response: web.StreamResponse, line: bytes) -> None:
    """Write a line in two pieces, splitting where a real network might (mid-character too)."""
    cut = len(line) // 2 + 1
    await response.write(line[:cut])
    await response.write(line[cut:])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="metaai-ls fake-server",
        description="A local fake of Meta AI for offline use.",
        epilog="scenarios (--scenario, or [[fake:NAME]] in a prompt):\n"
        + "\n".join(f"  {name:<18} {what}" for name, what in SCENARIOS.items()),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--interval", type=float, default=0.02, help="seconds between pieces")
    parser.add_argument("--chunk-size", type=int, default=6, help="characters per piece")
    parser.add_argument("--scenario", choices=sorted(SCENARIOS), default="ok")
    parser.add_argument(
        "--slow-interval", type=float, default=0.05, help="seconds between pieces when `slow`"
    )
    parser.add_argument(
        "--slow-seconds", type=float, default=0.3, help="the wait of `slow_first_byte`"
    )
    parser.add_argument("--dialect", choices=DIALECTS, default="gateway")
    parser.add_argument(
        "--debounce", type=float, default=0.3, help="seconds the gateway ignores a new stream"
    )
    parser.add_argument(
        "--cookie-file",
        metavar="FILE",
        help="where to write the ready cookie file the export line names (default: a "
        "private temporary folder, removed when the fake stops)",
    )
    args = parser.parse_args(argv)
    if args.host not in ("127.0.0.1", "localhost", "::1"):
        print(f"WARNING: the fake listens on {args.host}, beyond this machine", flush=True)

    async def serve() -> int:
        fake = FakeMetaAI(
            dialect=args.dialect,
            interval=args.interval,
            chunk_size=args.chunk_size,
            debounce=args.debounce,
            slow_interval=args.slow_interval,
            slow_seconds=args.slow_seconds,
        )
        fake.scenario = args.scenario
        try:
            url = await fake.start(args.host, args.port)
        except OSError as error:
            await fake.stop()
            say(_cannot_listen(args.host, args.port, error))
            return 2
        with _ready_cookie_file(args.cookie_file) as cookie_file:
            print(f"Fake Meta AI ({args.dialect} dialect) listening on {url}", flush=True)
            variables = {**fake.environment(), "METAAI_COOKIES": cookie_file}
            print(f"  export {' '.join(f'{k}={v}' for k, v in variables.items())}", flush=True)
            print(
                f"  {cookie_file} is a ready cookie file (any file with an `ecto_1_sess` or "
                f"`abra_sess` cookie is accepted); API key: {fake.api_key}",
                flush=True,
            )
            stopped = asyncio.Event()  # SIGTERM stops it as cleanly as Ctrl-C
            loop = asyncio.get_running_loop()
            loop.add_signal_handler(signal.SIGTERM, stopped.set)
            try:
                await stopped.wait()
            finally:
                # Now, while the loop's wake-up pipe is open: a closing loop closes the pipe
                # before it forgets the handler, and a Ctrl-C between the two made Python
                # print "Exception ignored when trying to write to the signal wakeup fd".
                loop.remove_signal_handler(signal.SIGTERM)
                await fake.stop()
        return 0

    return run_async(serve())


def _cannot_listen(host: str, port: int, error: OSError) -> str:
    if error.errno == errno.EADDRINUSE:
        return (
            f"port {port} on {host} is busy (another fake-server?). Choose another with "
            f"--port, for example --port {port + 1}, or --port 0 for any free port."
        )
    reason = error.strerror or str(error)
    return f"the fake cannot listen on {host}:{port} ({reason}). Check --host and --port."


@contextlib.contextmanager
def _ready_cookie_file(path: str | None):
    """A cookie file the fake accepts, 0600 (in a 0700 folder of its own unless ``path``
    names one); the folder it made is removed when the fake stops."""
    folder = None if path else tempfile.mkdtemp(prefix="metaai-ls-fake-")
    target = path or os.path.join(folder, "cookies.json")
    cookies = {"ecto_1_sess": "fake-session-" + uuid.uuid4().hex, "abra_sess": "fake-abra"}
    descriptor = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w") as file:
        os.fchmod(file.fileno(), 0o600)
        json.dump(cookies, file)
    try:
        yield target
    finally:
        if folder is not None:
            shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    raise SystemExit(run_command(main, sys.argv[1:], own_process=True))
