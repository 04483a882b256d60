"""A browser for tests: it drives the fake Meta AI as Chrome's meta.ai client would (the
home page, the GraphQL warm-up and mode calls, the gateway's WebSocket with its frames) for
a given web client (``profiles``), and records it all as Chrome's devtools save a HAR."""

from __future__ import annotations

import base64
import dataclasses
import datetime
import json
import os
import random
import re
import time
import urllib.parse
import uuid
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from metaai_ls.provider import frames, protowire
from metaai_ls.provider.identifiers import defaults

from .profiles import DEFAULT, Profile

TOKEN = re.compile(r"ecto1:[A-Za-z0-9_-]+")
SANITIZED_HEADERS = {"cookie", "set-cookie", "authorization"}
CLIENT_ID = "3f2a-91c4-0b7e-55d1-a8c6-4e09-d2b3-7f61"
TIME_ZONE = "Europe/Berlin"


@dataclasses.dataclass
class Recorder:
    """What the devtools' Network panel holds: one HAR entry per request or socket."""

    entries: list[dict[str, Any]] = dataclasses.field(default_factory=list)

    def har(self, sanitized: bool = False) -> dict[str, Any]:
        entries = [_sanitize(e) for e in self.entries] if sanitized else self.entries
        creator = {"name": "WebInspector", "version": "537.36"}
        return {"log": {"version": "1.2", "creator": creator, "pages": [], "entries": entries}}


def save(recorder: Recorder, path: str | os.PathLike[str], sanitized: bool = False) -> Path:
    """Write the capture as "Export HAR" does (sanitized: without cookies and
    Authorization headers, as Chrome 130+ exports by default)."""
    target = Path(path)
    target.write_text(json.dumps(recorder.har(sanitized), indent=1), encoding="utf-8")
    return target


async def capture(
    url: str,
    gateway_url: str,
    cookies: Mapping[str, str],
    profile: Profile = DEFAULT,
    turns: Sequence[Sequence[str]] = (("metaai-ls learn",),),
    new_chat: bool = True,
) -> Recorder:
    """One chat per item of ``turns`` (its messages: the first, then follow-ups), each on a
    socket of its own; ``new_chat`` False: the first message continues an existing chat."""
    import aiohttp

    browser = _Browser(url, gateway_url, dict(cookies), profile, Recorder())
    async with aiohttp.ClientSession() as browser.session:
        page = await browser.home()
        token = TOKEN.search(page)
        if token is None:
            raise RuntimeError("the fake's home page holds no token: is the login cookie given?")
        browser.add_bundle()
        for messages in turns:
            await browser.chat(token.group(0), messages, new_chat)
    return browser.recorder


@dataclasses.dataclass
class _Browser:
    url: str
    gateway_url: str
    cookies: dict[str, str]
    profile: Profile
    recorder: Recorder
    session: Any = None

    @property
    def user_agent(self) -> str:
        return defaults()["user_agent"]

    def headers(self, cookies: bool = True) -> dict[str, str]:
        headers = {"User-Agent": self.user_agent, "Origin": self.url, "Referer": self.url + "/"}
        if cookies and self.cookies:
            headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        return headers

    async def home(self) -> str:
        started = time.time()
        headers = self.headers()
        async with self.session.get(self.url + "/", headers=headers) as response:
            text = await response.text()
            for name, morsel in response.cookies.items():
                self.cookies[name] = morsel.value
            self.recorder.entries.append(
                _entry(started, "document", "GET", self.url + "/", headers, None, response, text)
            )
        return text

    def add_bundle(self) -> None:
        """A script the page loads (every real capture holds many)."""
        text = "/* bundle */ " + "function f(){return 1}" * 200
        entry = _entry(time.time(), "script", "GET", "https://static.example/app.js", {}, None)
        entry["response"]["content"] = {
            "size": len(text),
            "mimeType": "text/javascript",
            "text": text,
        }
        self.recorder.entries.append(entry)

    async def graphql(self, doc_id: str, variables: dict[str, Any]) -> None:
        started = time.time()
        body = json.dumps({"doc_id": doc_id, "variables": variables})
        headers = {**self.headers(), "Content-Type": "application/json"}
        async with self.session.post(self.url + "/api/graphql", data=body, headers=headers) as r:
            text = await r.text()
            self.recorder.entries.append(
                _entry(started, "fetch", "POST", str(r.url), headers, body, r, text)
            )

    async def chat(self, token: str, messages: Sequence[str], new_chat: bool) -> None:
        conversation = str(uuid.uuid4())
        if new_chat:
            await self.graphql(self.profile.warmup_doc_id, {"conversationId": conversation})
            variables = {"input": {"conversationId": conversation, "mode": "think_fast"}}
            await self.graphql(self.profile.mode_doc_id, variables)
        values = {
            "access_token": token,
            "request_id": str(uuid.uuid4()),
            "app_id": self.profile.app_id,
        }
        query = {k: str(protowire.fill(v, values)) for k, v in self.profile.query.items()}
        url = self.gateway_url + "?" + urllib.parse.urlencode(query)
        socket = _Socket(self, url, conversation)
        await socket.run(messages, new_chat)


class _Socket:
    def __init__(self, browser: _Browser, url: str, conversation: str) -> None:
        self.browser = browser
        self.url = url
        self.conversation = conversation
        self.messages: list[dict[str, Any]] = []
        self.ids = (str(uuid.uuid4()), str(uuid.uuid4()))  # kept for the socket's life

    async def run(self, prompts: Sequence[str], new_chat: bool) -> None:
        browser = self.browser
        started = time.time()
        headers = browser.headers(cookies=False)
        async with browser.session.ws_connect(self.url, headers=headers) as ws:
            self.ws = ws
            values = {"conversation_id": self.conversation}
            payload = {
                k: protowire.fill(v, values) for k, v in browser.profile.open_payload.items()
            }
            await self.send(frames.open_frame(payload))
            await self.receive_until(lambda data: b'{"code":200}' in data)
            for number, prompt in enumerate(prompts):
                follow_up = number > 0 or not new_chat
                request_id = str(uuid.uuid4())
                message = protowire.build(
                    browser.profile.message, self.values(prompt, request_id, follow_up)
                )
                body = {"req-id": request_id, "payload": base64.b64encode(message).decode()}
                await self.send(frames.data_frame(body, number))
                await self.receive_until(lambda data: data[:1] == bytes([frames.END]))
        entry = _entry(started, "websocket", "GET", self.url, headers, None)
        entry["response"]["status"], entry["response"]["statusText"] = 101, "Switching Protocols"
        entry["_webSocketMessages"] = self.messages
        browser.recorder.entries.append(entry)

    def values(self, prompt: str, request_id: str, follow_up: bool) -> dict[str, Any]:
        profile = self.browser.profile
        gw = defaults()["gateway"]
        now = int(time.time() * 1000)
        return {
            "entry_point": profile.entry_point_follow_up if follow_up else profile.entry_point_new,
            "branch_path": profile.branch_path_follow_up if follow_up else profile.branch_path_new,
            "app_id": profile.app_id,
            "client_id": CLIENT_ID,
            "conversation_id": self.conversation,
            "actor_id": gw["actor_id"],
            "account_id": profile.account_id,
            "mode_id": 1000,
            "mode_name": "MODE_FAST",
            "platform": "Windows",
            "user_agent": self.browser.user_agent,
            "build_hash": gw["build_hash"],
            "sent_ms": now + 4,
            "now_ms": now,
            "request_id": request_id,
            "locale": "en-US",
            "socket_id": self.ids[0],
            "session_id": self.ids[1],
            "time_zone": TIME_ZONE,
            "message_id": str(uuid.uuid4()),
            "message_key": now * 4194304 + random.randrange(4096),
            "prompt": prompt,
        }

    async def send(self, data: bytes) -> None:
        await self.ws.send_bytes(data)
        self.record("send", data)

    async def receive_until(self, done) -> None:
        import aiohttp

        while True:
            message = await self.ws.receive(timeout=30)
            if message.type is not aiohttp.WSMsgType.BINARY:
                raise RuntimeError(f"the fake gateway closed the socket ({message.type.name})")
            self.record("receive", message.data)
            if done(message.data):
                return

    def record(self, kind: str, data: bytes) -> None:
        encoded = base64.b64encode(data).decode()
        self.messages.append({"type": kind, "time": time.time(), "opcode": 2, "data": encoded})


def _entry(
    started: float,
    kind: str,
    method: str,
    url: str,
    headers: Mapping[str, str],
    body: str | None,
    response: Any = None,
    text: str = "",
) -> dict[str, Any]:
    query = urllib.parse.parse_qsl(urllib.parse.urlsplit(url).query)
    request: dict[str, Any] = {
        "method": method,
        "url": url,
        "httpVersion": "HTTP/1.1",
        "headers": _pairs(headers.items()),
        "queryString": _pairs(query),
        "cookies": _pairs(_cookie_pairs(headers.get("Cookie", ""))),
        "headersSize": -1,
        "bodySize": len(body or ""),
    }
    if body is not None:
        request["postData"] = {"mimeType": "application/json", "text": body}
    answer: dict[str, Any] = {
        "status": 0,
        "statusText": "",
        "httpVersion": "HTTP/1.1",
        "headers": [],
        "cookies": [],
        "content": {"size": 0, "mimeType": "x-unknown"},
        "redirectURL": "",
        "headersSize": -1,
        "bodySize": 0,
    }
    if response is not None:
        answer["status"], answer["statusText"] = response.status, response.reason or ""
        answer["headers"] = _pairs(response.headers.items())
        answer["cookies"] = _pairs((k, m.value) for k, m in response.cookies.items())
        mime = response.headers.get("Content-Type", "text/html").split(";")[0]
        answer["content"] = {"size": len(text), "mimeType": mime, "text": text}
    stamp = (
        datetime.datetime.fromtimestamp(started, datetime.UTC).isoformat().replace("+00:00", "Z")
    )
    return {
        "_resourceType": kind,
        "startedDateTime": stamp,
        "time": (time.time() - started) * 1000,
        "request": request,
        "response": answer,
        "cache": {},
        "timings": {"send": 0, "wait": 0, "receive": 0},
    }


def _pairs(items: Any) -> list[dict[str, str]]:
    return [{"name": str(name), "value": str(value)} for name, value in items]


def _cookie_pairs(header: str) -> list[tuple[str, str]]:
    pairs = (part.strip().partition("=") for part in header.split(";") if "=" in part)
    return [(name, value) for name, _, value in pairs]


def _sanitize(entry: dict[str, Any]) -> dict[str, Any]:
    entry = json.loads(json.dumps(entry))
    for side in (entry["request"], entry["response"]):
        side["headers"] = [h for h in side["headers"] if h["name"].lower() not in SANITIZED_HEADERS]
        side["cookies"] = []
    return entry
