"""The fake Meta AI in its own process, so that its CPU time is not counted."""

from __future__ import annotations

import asyncio
import socket
import sys
from typing import Any

import aiohttp


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class FakeProcess:
    def __init__(self, dialect: str = "gateway") -> None:
        self.dialect = dialect
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.process: asyncio.subprocess.Process | None = None
        self.http: aiohttp.ClientSession | None = None

    async def __aenter__(self) -> FakeProcess:
        self.process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "metaai_ls",
            "fake-server",
            "--port",
            str(self.port),
            "--interval",
            "0",
            "--dialect",
            self.dialect,
            stdout=asyncio.subprocess.PIPE,
        )
        await asyncio.wait_for(self.process.stdout.readline(), 20)
        self.http = aiohttp.ClientSession()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.http.close()
        self.process.terminate()
        await self.process.wait()

    async def configure(self, **config: Any) -> None:
        async with self.http.post(self.url + "/__fake__/config", json=config) as response:
            response.raise_for_status()

    @property
    def gateway_url(self) -> str:
        return self.url.replace("http://", "ws://") + "/ws/clippy"

    async def requests(self) -> list[dict[str, Any]]:
        async with self.http.get(self.url + "/__fake__/requests") as response:
            return await response.json()

    async def prompts(self) -> list[str]:
        async with self.http.get(self.url + "/__fake__/messages") as response:
            return [message["prompt"] for message in await response.json()]

    async def streams(self) -> list[dict[str, Any]]:
        async with self.http.get(self.url + "/__fake__/streams") as response:
            return await response.json()
