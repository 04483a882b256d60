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


class Process:
    """The real server over stdio, spoken to byte by byte."""

    def __init__(self, process: asyncio.subprocess.Process) -> None:
        self.process = process

    @classmethod
    async def start(cls, **env: str) -> Process:
        import os
        import sys

        environment = {k: v for k, v in os.environ.items() if not k.startswith("METAAI_")}
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "metaai_ls",
            "--stdio",
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            env={**environment, **env},
        )
        return cls(process)

    def send(self, message: dict[str, Any], length_error: int = 0) -> None:
        body = json.dumps(message).encode()
        header = f"Content-Length: {len(body) + length_error}\r\n\r\n".encode()
        self.process.stdin.write(header + body)

    async def receive(self, msg_id: int) -> dict[str, Any]:
        while True:
            header = await asyncio.wait_for(self.process.stdout.readuntil(b"\r\n\r\n"), 20)
            length = int(header.split(b"Content-Length: ")[1].split(b"\r\n")[0])
            message = json.loads(await self.process.stdout.readexactly(length))
            if message.get("id") == msg_id and "method" not in message:
                return message

    async def stop(self) -> str:
        self.send({"jsonrpc": "2.0", "id": 99, "method": "shutdown"})
        await self.receive(99)
        self.send({"jsonrpc": "2.0", "method": "exit"})
        self.process.stdin.close()
        _, stderr = await asyncio.wait_for(self.process.communicate(), 20)
        return stderr.decode()


def request(msg_id: int, method: str, params: Any) -> dict[str, Any]:
    return {"jsonrpc": "2.0", "id": msg_id, "method": method, "params": params}


INITIALIZE = request(1, "initialize", {"capabilities": {}, "processId": None})
CANCEL = {"command": "metaai.cancel", "arguments": []}


async def test_a_message_over_the_limit_is_dropped_answered_and_logged():
    server = await Process.start(METAAI_MAX_MESSAGE_MB="1")
    server.send(INITIALIZE)
    await server.receive(1)
    huge = {"command": "metaai.ask", "arguments": [{"uri": "x", "prompt": "y" * (2 << 20)}]}
    server.send(request(2, "workspace/executeCommand", huge))
    server.send(request(3, "workspace/executeCommand", CANCEL))
    error = (await server.receive(2))["error"]  # answered, not parsed
    assert error["code"] == -32600 and "larger than METAAI_MAX_MESSAGE_MB" in error["message"]
    assert (await server.receive(3))["result"] == {"cancelled": 0}  # and the server goes on
    stderr = await server.stop()
    assert "dropped a 2.0 MB message (workspace/executeCommand)" in stderr


async def test_a_content_length_too_short_is_logged_and_the_next_message_read():
    server = await Process.start()
    server.send(INITIALIZE)
    await server.receive(1)
    server.send(request(2, "workspace/executeCommand", CANCEL), length_error=-5)
    server.send(request(3, "workspace/executeCommand", CANCEL))
    assert (await server.receive(3))["result"] == {"cancelled": 0}
    stderr = await server.stop()
    assert "a Content-Length that did not match its body" in stderr


async def test_over_tcp_too_a_message_over_the_limit_is_dropped_and_answered(unused_tcp_port):
    import os
    import sys

    environment = {k: v for k, v in os.environ.items() if not k.startswith("METAAI_")}
    process = await asyncio.create_subprocess_exec(
        *(sys.executable, "-m", "metaai_ls", "--tcp", "--port", str(unused_tcp_port)),
        stderr=asyncio.subprocess.PIPE,
        env={**environment, "METAAI_MAX_MESSAGE_MB": "1", "METAAI_LOG_LEVEL": "INFO"},
    )
    try:
        while b"serving one client" not in await asyncio.wait_for(process.stderr.readline(), 10):
            pass
        reader, writer = await asyncio.open_connection("127.0.0.1", unused_tcp_port)
        server = Process(process)
        server.process = _Streams(reader, writer)  # the same framing over the socket
        server.send(INITIALIZE)
        await server.receive(1)
        huge = {"command": "metaai.ask", "arguments": [{"uri": "x", "prompt": "y" * (2 << 20)}]}
        server.send(request(2, "workspace/executeCommand", huge))
        server.send(request(3, "workspace/executeCommand", CANCEL))
        assert (await server.receive(2))["error"]["code"] == -32600
        assert (await server.receive(3))["result"] == {"cancelled": 0}
        writer.close()
    finally:
        process.kill()
        await process.wait()


class _Streams:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.stdout, self.stdin = reader, writer
