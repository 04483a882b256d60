"""The provider's Abra dialect (g4f's): CPU time and time to first delta on long streamed
answers, ours against g4f's MetaAIAccount on the same streams from the same fake (in
another process). The gateway dialect is measured in gateway_bench.py."""

from __future__ import annotations

import statistics
import time
from typing import Any

from bench.fake_process import FakeProcess
from metaai_ls.provider import MetaAIAccount

COOKIES = {"abra_sess": "bench", "datr": "bench"}
MESSAGES = [{"role": "user", "content": "Write a long answer"}]
CHUNK = 12  # characters added per streamed line


def answer_of(chars: int) -> str:
    lines, n = [], 0
    while sum(map(len, lines)) < chars:
        lines.append(f"line {n}: value = compute(x, {n}) * 2  # ✓ 中文 😀\n")
        n += 1
    return "".join(lines)[:chars]


async def ours(fake: FakeProcess) -> tuple[float, float, str]:
    first = None
    text = []
    started = time.process_time()
    async for chunk in MetaAIAccount.create_async_generator(
        "default", MESSAGES, cookies=COOKIES, url=fake.url, graph_url=fake.url, protocol="abra"
    ):
        if first is None:
            first = time.monotonic()
        text.append(str(chunk))
    return time.process_time() - started, first, "".join(text)


def g4f_connector(port: int):
    """Send g4f's https://www.meta.ai requests to the fake, in plain HTTP, without
    changing g4f's code: a connector that resolves every host to the fake and skips TLS."""
    import socket

    import aiohttp
    from aiohttp.abc import AbstractResolver

    class ToFake(AbstractResolver):
        async def resolve(self, host, port_=0, family=socket.AF_INET):
            return [
                {
                    "hostname": host,
                    "host": "127.0.0.1",
                    "port": port,
                    "family": socket.AF_INET,
                    "proto": 0,
                    "flags": socket.AI_NUMERICHOST,
                }
            ]

        async def close(self) -> None:
            pass

    class PlainToFake(aiohttp.TCPConnector):
        def _get_ssl_context(self, req):  # the fake speaks plain HTTP
            return None

    return PlainToFake(resolver=ToFake())


async def g4f(fake: FakeProcess) -> tuple[float, float, str]:
    from g4f.Provider.helper import format_prompt
    from g4f.Provider.needs_auth.MetaAI import MetaAI as G4FMetaAI

    provider = G4FMetaAI(connector=g4f_connector(fake.port))
    first = None
    text = []
    started = time.process_time()
    try:
        # The body of MetaAIAccount.create_async_generator, with our connector.
        async for chunk in provider.prompt(format_prompt(MESSAGES), COOKIES):
            if first is None:
                first = time.monotonic()
            text.append(str(chunk))
    finally:
        await provider.session.close()  # g4f never closes it
    return time.process_time() - started, first, "".join(text)


def parsing(chars: int) -> dict[str, float]:
    """Only the line decoding, on the fake's own lines: json vs orjson vs AnswerStream."""
    import json as std_json

    import orjson

    from metaai_ls.provider.stream import AnswerStream
    from metaai_ls.testing.fake_meta import _line, cumulative

    answer = answer_of(chars)
    lines = [_line("m", s, "STREAMING").rstrip(b"\n") for s in cumulative(answer, CHUNK)]

    def timed(decode) -> float:
        runs = []
        for _ in range(5):
            started = time.process_time()
            decode()
            runs.append(time.process_time() - started)
        return statistics.median(runs) * 1000

    def stream() -> None:
        parser = AnswerStream()
        for line in lines:
            parser.feed(line)

    json_ms = timed(lambda: [std_json.loads(line) for line in lines])
    orjson_ms = timed(lambda: [orjson.loads(line) for line in lines])
    stream_ms = timed(stream)
    return {"chars": chars, "json_ms": json_ms, "orjson_ms": orjson_ms, "stream_ms": stream_ms}


def has_g4f() -> bool:
    try:
        import g4f  # noqa: F401
    except ImportError:
        return False
    return True


async def measure(fake: FakeProcess, run, answer: str) -> tuple[float, float]:
    await fake.configure(reset=True, answers=[answer], chunk_size=CHUNK, interval=0)
    cpu, first, text = await run(fake)
    assert text == answer, "the streamed answer differs"
    (stream,) = await fake.streams()
    return cpu, first - stream["first_line_at"]


async def run(quick: bool) -> dict[str, Any]:
    lengths = [2_000, 8_000] if quick else [2_000, 8_000, 32_000]
    repeats = 3 if quick else 7
    compare = has_g4f()
    rows = []
    async with FakeProcess(dialect="abra") as fake:
        await measure(fake, ours, answer_of(500))  # warm up imports and connections
        if compare:
            await measure(fake, g4f, answer_of(500))
        for chars in lengths:
            answer = answer_of(chars)
            mine, theirs = [], []
            for _ in range(repeats):  # interleaved
                mine.append(await measure(fake, ours, answer))
                if compare:
                    theirs.append(await measure(fake, g4f, answer))
            row = {
                "chars": chars,
                "lines": -(-chars // CHUNK),
                "ours_cpu_ms": statistics.median(c for c, _ in mine) * 1000,
                "ttfd_ms": statistics.median(t for _, t in mine) * 1000,
            }
            if compare:
                row["g4f_cpu_ms"] = statistics.median(c for c, _ in theirs) * 1000
                row["g4f_ttfd_ms"] = statistics.median(t for _, t in theirs) * 1000
                row["cpu_ratio"] = row["ours_cpu_ms"] / row["g4f_cpu_ms"]
            rows.append(row)
    result: dict[str, Any] = {
        "lengths": rows,
        "chunk_chars": CHUNK,
        "repeats": repeats,
        "parsing": [parsing(chars) for chars in lengths],
    }
    if not compare:
        result["note"] = "g4f not installed here: `pip install g4f` to compare"
    return result
