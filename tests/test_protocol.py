"""The server's JSON-RPC edge, in process: raw messages in, the bytes it writes out.

Messages go through pygls's own parsing (`structure_message`) and dispatch
(`handle_message`), exactly as its stdio loop hands them over."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from metaai_ls.server.features import create_server

INVALID_PARAMS, SERVER_NOT_INITIALIZED = -32602, -32002


class Wire:
    def __init__(self) -> None:
        self.server = create_server()
        self.protocol = self.server.protocol
        self.sent: list[dict[str, Any]] = []
        self.protocol.set_writer(self, include_headers=False)
        self._ids = iter(range(1, 1 << 30))

    def write(self, data: bytes) -> None:
        self.sent.append(json.loads(data))

    def receive(self, method: str, params: Any, request: bool = True) -> int | None:
        message: dict[str, Any] = {"jsonrpc": "2.0", "method": method, "params": params}
        msg_id = next(self._ids) if request else None
        if request:
            message["id"] = msg_id
        parsed = json.loads(json.dumps(message), object_hook=self.protocol.structure_message)
        self.protocol.handle_message(parsed)
        return msg_id

    async def response(self, msg_id: int) -> dict[str, Any]:
        for _ in range(200):
            for message in self.sent:
                if message.get("id") == msg_id and "method" not in message:
                    return message
            await asyncio.sleep(0.01)
        raise AssertionError(f"no response to request {msg_id}")

    async def initialize(self) -> None:
        await self.response(self.receive("initialize", {"capabilities": {}, "processId": None}))
        self.receive("initialized", {}, request=False)


async def test_requests_before_initialize_get_server_not_initialized():
    wire = Wire()
    ask = wire.receive(
        "workspace/executeCommand", {"command": "metaai.ask", "arguments": [{"uri": "x"}]}
    )
    action = wire.receive("textDocument/codeAction", {})
    for msg_id in (ask, action):
        assert (await wire.response(msg_id))["error"]["code"] == SERVER_NOT_INITIALIZED


async def test_a_request_whose_params_do_not_parse_gets_an_answer():
    wire = Wire()
    await wire.initialize()
    response = await wire.response(wire.receive("textDocument/codeAction", {}))
    assert response["error"]["code"] == INVALID_PARAMS


async def test_finished_requests_and_notifications_leave_nothing_behind():
    """pygls 2.1.1 kept an entry (with its result) per didChange and per command."""
    wire = Wire()
    await wire.initialize()
    uri = "file:///w/a.py"
    item = {"uri": uri, "languageId": "python", "version": 1, "text": "x = 1\n"}
    wire.receive("textDocument/didOpen", {"textDocument": item}, request=False)
    for version in range(2, 302):
        change = {"range": _range(0, 0), "text": "y"}
        identifier = {"uri": uri, "version": version}
        params = {"textDocument": identifier, "contentChanges": [change]}
        wire.receive("textDocument/didChange", params, request=False)
    commands = [
        wire.receive("workspace/executeCommand", {"command": "metaai.cancel", "arguments": []})
        for _ in range(100)
    ]
    for msg_id in commands:
        assert (await wire.response(msg_id))["result"] == {"cancelled": 0}
    await asyncio.sleep(0.05)
    assert wire.server.workspace.get_text_document(uri).source.startswith("y" * 300)
    assert len(wire.protocol._request_futures) == 0


def _range(line: int, character: int) -> dict[str, Any]:
    position = {"line": line, "character": character}
    return {"start": position, "end": position}
