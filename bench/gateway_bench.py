"""The gateway dialect, measured side by side in one run against the fake in another
process:

- CPU per answer: our provider (frames parsed, events applied, deltas yielded) against a
  bare aiohttp WebSocket client that receives the same frames and parses nothing, each
  receive with the contract's read time-out (as ours). Both continue one conversation.
  The fake restarts before every run, as an outside gateway may: its tokens are
  forgotten and its sockets closed, so each run is a refused handshake with the cached
  token, a home page for a fresh one and a new handshake, for both. Linear in the
  answer: the CPU ours adds per kB of answer is the same at 20k and 50k characters.
- First delta after its frame left the fake.
- The prompt message: our hand-written encoder against bbpb (schema-less protobuf).
- First ask of a fresh server: `metaai.ask` → the first request reaching Meta AI, right
  after `initialized` and after a second of idleness (the provider is preloaded then).
- The Meta Model API door: importing aiohttp, and a first and a warm ask, in a new process.
"""

from __future__ import annotations

import asyncio
import base64
import json
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp
from pytest_lsp import client_capabilities

from bench.fake_process import FakeProcess
from bench.provider_bench import answer_of
from metaai_ls.provider import Conversation, MetaAIAccount, frames, load_identifiers, protowire
from tests.editor import make_editor_client

COOKIES = {"ecto_1_sess": "bench", "datr": "bench"}
MESSAGES = [{"role": "user", "content": "Write a long answer"}]
CHUNK = 12
TOKEN = re.compile(r'accessToken\\":\\"(ecto1:[^\\"]+)')


class Ours:
    def __init__(self, fake: FakeProcess) -> None:
        self.fake = fake
        self.conversation = Conversation()

    async def __call__(self) -> tuple[float, float, str]:
        first = None
        parts = []
        started = time.process_time()
        async for chunk in MetaAIAccount.create_async_generator(
            "fast",
            MESSAGES,
            cookies=COOKIES,
            url=self.fake.url,
            gateway_url=self.fake.gateway_url,
            conversation=self.conversation,
        ):
            first = first or time.monotonic()
            parts.append(str(chunk))
        return time.process_time() - started, first or 0.0, "".join(parts)


class Bare:
    """The same frames received by aiohttp and not parsed: the floor. With ``timeout``,
    each receive carries the read time-out the contract requires (as ours does)."""

    def __init__(self, fake: FakeProcess, timeout: float | None = None) -> None:
        self.fake = fake
        self.timeout = timeout
        self.token: str | None = None
        self.ids = load_identifiers()
        self.conversation = "00000000-0000-4000-8000-000000000000"

    async def __call__(self) -> tuple[float, float, str]:
        started = time.process_time()
        async with aiohttp.ClientSession() as session:
            try:
                ws = await self.connect(session)
            except aiohttp.WSServerHandshakeError:  # the fake restarted: a new token
                self.token = None
                ws = await self.connect(session)
            async with ws:
                opened = time.monotonic()
                await ws.send_bytes(frames.open_frame(self.open_payload()))
                while True:  # bounded: a fake that never acknowledges fails the bench
                    message = await ws.receive(30)
                    if message.type != aiohttp.WSMsgType.BINARY:
                        raise RuntimeError(f"the fake did not acknowledge: {message.type}")
                    if b'{"code":200}' in message.data:
                        break
                await asyncio.sleep(max(0.0, 0.35 - (time.monotonic() - opened)))
                await ws.send_bytes(
                    frames.data_frame({"req-id": "r", "payload": self.payload()}, 0)
                )
                received = 0
                while True:
                    message = await ws.receive(self.timeout)
                    if message.type != aiohttp.WSMsgType.BINARY or message.data[:1] == b"\x0e":
                        break
                    received += len(message.data)
        return time.process_time() - started, 0.0, f"{received} bytes"

    async def connect(self, session: aiohttp.ClientSession) -> aiohttp.ClientWebSocketResponse:
        if self.token is None:
            cookie = {"cookie": "ecto_1_sess=bench"}
            async with session.get(self.fake.url + "/", headers=cookie) as response:
                self.token = TOKEN.search(await response.text()).group(1)
        query = {k: v for k, v in self.ids["gateway"]["query"].items()}
        query |= {"Authorization": self.token, "x-dgw-appid": self.ids["gateway"]["app_id"]}
        query["x-dgw-app-clippy-request-id"] = "bench"
        headers = {"origin": self.fake.url}
        return await session.ws_connect(self.fake.gateway_url, params=query, headers=headers)

    def open_payload(self) -> dict[str, str]:
        payload = dict(self.ids["gateway"]["open_payload"])  # as the client's data says
        return {k: self.conversation if v == "{conversation_id}" else v for k, v in payload.items()}

    def payload(self) -> str:
        rows = [
            ["1.1.5.5.1", "string", self.conversation],
            ["1.10.4", "string", self.conversation],
            ["2.1.2.1", "string", self.conversation],
            ["2.2", "string", MESSAGES[0]["content"]],
        ]
        return base64.b64encode(protowire.build(rows, {})).decode()


async def provider(quick: bool) -> list[dict[str, Any]]:
    async with asyncio.timeout(900):  # a bench never hangs CI: a stuck run fails it
        return await _provider(quick)


async def _provider(quick: bool) -> list[dict[str, Any]]:
    lengths = [2_000, 20_000] if quick else [2_000, 20_000, 50_000]
    repeats = 5 if quick else 11  # a shared machine: medians of many interleaved runs
    rows = []
    async with FakeProcess() as fake:
        ours, bare, timed = Ours(fake), Bare(fake), Bare(fake, timeout=60.0)
        await fake.configure(reset=True, answers=["warm up"], chunk_size=CHUNK)
        await ours()
        await bare()
        await timed()
        for chars in lengths:
            answer = answer_of(chars)
            mine, floor, timed_floor = [], [], []
            for _ in range(repeats):  # interleaved; the fake restarts before each run
                await fake.configure(reset=True, restart=True, answers=[answer], chunk_size=CHUNK)
                cpu, first, text = await ours()
                assert text == answer, "the streamed answer differs"
                (stream,) = await fake.streams()
                mine.append((cpu, first - stream["first_line_at"]))
                await fake.configure(reset=True, restart=True, answers=[answer], chunk_size=CHUNK)
                floor.append((await bare())[0])
                await fake.configure(reset=True, restart=True, answers=[answer], chunk_size=CHUNK)
                timed_floor.append((await timed())[0])
            ours_ms = statistics.median(c for c, _ in mine) * 1000
            bare_ms = statistics.median(floor) * 1000
            timed_ms = statistics.median(timed_floor) * 1000
            rows.append(
                {
                    "chars": chars,
                    "frames": -(-chars // CHUNK) + 2,
                    "extra_us_per_kb": (ours_ms - timed_ms) * 1000 / (chars / 1000),
                    "ours_cpu_ms": ours_ms,
                    "bare_cpu_ms": bare_ms,
                    "cpu_ratio": ours_ms / bare_ms,
                    "bare_timeout_cpu_ms": timed_ms,
                    "cpu_ratio_timeout": ours_ms / timed_ms,
                    "first_delta_ms": statistics.median(t for _, t in mine) * 1000,
                }
            )
    return rows


def message_encoding(runs: int) -> dict[str, Any]:
    rows = load_identifiers()["gateway"]["message"]
    values = {name: "x" for name in re.findall(r"\{(\w+)\}", json.dumps(rows))}
    values |= {"mode_id": 1000, "account_id": 1, "sent_ms": 2, "now_ms": 1, "message_key": 3}
    values["prompt"] = "Explain this function " * 20
    started = time.perf_counter()
    for _ in range(runs):
        ours = protowire.build(rows, values)
    hand_us = (time.perf_counter() - started) / runs * 1e6
    result: dict[str, Any] = {"hand_us": hand_us, "bytes": len(ours)}
    try:
        import blackboxprotobuf
    except ImportError:
        result["note"] = "bbpb not installed: `pip install bbpb` to compare"
        return result
    message, typedef = blackboxprotobuf.decode_message(ours)
    started = time.perf_counter()
    for _ in range(runs):
        theirs = blackboxprotobuf.encode_message(message, typedef)
    result["bbpb_us"] = (time.perf_counter() - started) / runs * 1e6
    result["same_bytes"] = bytes(theirs) == ours
    result["ratio"] = result["bbpb_us"] / hand_us
    return result


async def first_ask(quick: bool) -> dict[str, float]:
    """metaai.ask sent → first request at the fake, in a fresh server: at once and idle."""
    figures: dict[str, list[float]] = {"cold": [], "idle": []}
    with tempfile.TemporaryDirectory() as folder:
        cookie_file = Path(folder) / "cookies.json"
        cookie_file.write_text(json.dumps(COOKIES))
        cookie_file.chmod(0o600)
        async with FakeProcess() as fake:
            for _ in range(2 if quick else 5):
                for kind, idle in (("cold", 0.0), ("idle", 1.0)):
                    figures[kind].append(await _first_request(fake, str(cookie_file), idle))
    return {f"{kind}_ms": statistics.median(v) * 1000 for kind, v in figures.items()}


async def _first_request(fake: FakeProcess, cookie_file: str, idle: float) -> float:
    await fake.configure(reset=True)
    client = make_editor_client()
    await client.start_io(sys.executable, "-m", "metaai_ls", "--stdio")
    urls = {"url": fake.url, "gatewayUrl": fake.gateway_url, "cookiesFile": cookie_file}
    await client.start_session(client_capabilities("neovim"), {"metaai": urls})
    try:
        doc = client.open("file:///bench/a.py", "x = 1\n")
        await asyncio.sleep(idle)
        sent = time.monotonic()
        await client.ask(uri=doc.uri, prompt="hi", mode="chat")
        return (await fake.requests())[0]["at"] - sent
    finally:
        await client.shutdown_session()
        await client.stop()


API_SCRIPT = """
import asyncio, json, os, sys, time
t0 = time.perf_counter()
import aiohttp
t1 = time.perf_counter()
from metaai_ls.provider import MetaModelAPI
async def ask():
    started = time.perf_counter()
    async for _ in MetaModelAPI.create_async_generator(
        "muse-spark-1.3", [{"role": "user", "content": "hi"}], api_key="fake-api-key"
    ):
        return time.perf_counter() - started
async def main():
    first = await ask()
    warm = await ask()
    print(json.dumps({"import_aiohttp_ms": (t1 - t0) * 1000, "first_ms": first * 1000,
                      "warm_ms": warm * 1000}))
asyncio.run(main())
"""


async def api_door() -> dict[str, float]:
    async with FakeProcess() as fake:
        env = {"METAAI_API_URL": fake.url + "/v1", "PATH": "/usr/bin:/bin"}
        done = subprocess.run(
            [sys.executable, "-c", API_SCRIPT], capture_output=True, text=True, env=env, check=True
        )
    return json.loads(done.stdout)


async def run(quick: bool) -> dict[str, Any]:
    return {
        "provider": await provider(quick),
        "message": message_encoding(200 if quick else 2000),
        "first_ask": await first_ask(quick),
        "api": await api_door(),
    }


def provider_rows(figures: list[dict[str, Any]]) -> list[tuple[str, str, str]]:
    out = []
    for row in figures:
        label = f"gateway {row['chars']} chars, {row['frames']} frames"
        out.append(
            (
                label + ": CPU bare aiohttp receive (read time-out) / ours",
                f"{row['bare_timeout_cpu_ms']:.1f} / {row['ours_cpu_ms']:.1f} ms"
                f" = {row['cpu_ratio_timeout']:.2f}x",
                "<= 1.2x",
            )
        )
        out.append(
            (
                label + ": CPU ours adds per kB of answer (linear: alike for every size)",
                f"{row['extra_us_per_kb']:.0f} µs/kB",
                "",
            )
        )
        out.append(
            (
                label + ": CPU ours / bare aiohttp without a time-out",
                f"{row['ours_cpu_ms']:.1f} / {row['bare_cpu_ms']:.1f} ms = {row['cpu_ratio']:.2f}x",
                "",
            )
        )
        out.append(
            (label + ": first delta after its frame", f"{row['first_delta_ms']:.2f} ms", "<= 1 ms")
        )
    return out


def rows(results: dict[str, Any]) -> list[tuple[str, str, str]]:
    out = provider_rows(results["provider"])
    m = results["message"]
    if "bbpb_us" in m:
        value = f"{m['hand_us']:.0f} / {m['bbpb_us']:.0f} µs = bbpb {m['ratio']:.1f}x slower"
        value += "" if m["same_bytes"] else " (bytes differ)"
    else:
        value = f"{m['hand_us']:.0f} µs ({m['note']})"
    out.append((f"prompt message ({m['bytes']} bytes): ours / bbpb", value, ""))
    f = results["first_ask"]
    out.append(
        (
            "first ask of a fresh server -> request at Meta AI: at once / after 1 s idle",
            f"{f['cold_ms']:.1f} / {f['idle_ms']:.1f} ms",
            "idle <= 30 ms",
        )
    )
    a = results["api"]
    out.append(
        (
            "API door, new process: import aiohttp / first ask / warm ask",
            f"{a['import_aiohttp_ms']:.0f} / {a['first_ms']:.1f} / {a['warm_ms']:.1f} ms",
            "",
        )
    )
    return out


if __name__ == "__main__":  # the CPU per answer alone: python -m bench.gateway_bench [--quick]
    from bench.run import table

    print(table(provider_rows(asyncio.run(provider("--quick" in sys.argv)))))
