"""The language server streaming: first report latency, edit traffic, concurrency,
responsiveness while streaming, and cancellation, against the fake in another process."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import statistics
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from lsprotocol import types
from pygls.protocol import default_converter
from pytest_lsp import client_capabilities
from pytest_lsp.client import DEFAULT_CLIENT_FEATURES, progress, register_lsp_features

from bench.fake_process import FakeProcess
from bench.provider_bench import answer_of
from tests.editor import EditorClient, code_lens_refresh, editor_converter

SERVER = [sys.executable, "-m", "metaai_ls", "--stdio"]
CODE = "def f(x):\n    return x\n\nprint(f(1))\n"


class TimedClient(EditorClient):
    """Notes when each progress report and each edit arrives."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.report_times: list[float] = []
        self.edit_times: list[float] = []
        self.edit_json_bytes = 0


def timed_progress(client: TimedClient, params: types.ProgressParams) -> None:
    if isinstance(params.value, dict) and params.value.get("kind") == "report":
        client.report_times.append(time.monotonic())
    progress(client, params)


def timed_apply_edit(client: TimedClient, params: types.ApplyWorkspaceEditParams):
    client.edit_times.append(time.monotonic())
    client.edit_json_bytes += len(json.dumps(default_converter().unstructure(params)).encode())
    return client.apply(params)


async def start(fake: FakeProcess, cookie_file: str, **settings: Any) -> TimedClient:
    client = TimedClient(converter_factory=editor_converter)
    features = {**DEFAULT_CLIENT_FEATURES, types.PROGRESS: timed_progress}
    register_lsp_features(client, features)
    client.feature(types.WORKSPACE_APPLY_EDIT)(timed_apply_edit)
    client.feature(types.WORKSPACE_CODE_LENS_REFRESH)(code_lens_refresh)
    await client.start_io(*SERVER)
    urls = {"url": fake.url, "graphUrl": fake.url, "gatewayUrl": fake.gateway_url}
    options = {"metaai": {**urls, "cookiesFile": cookie_file, **settings}}
    await client.start_session(client_capabilities("visual_studio_code"), options)
    return client


async def stop(client: TimedClient) -> None:
    await client.shutdown_session()
    await client.stop()


def fenced(chars: int) -> str:
    return "```python\n" + answer_of(chars) + "\n```\n"


async def first_report_latency(client: TimedClient, fake: FakeProcess, asks: int) -> list[float]:
    latencies = []
    for n in range(asks):
        await fake.configure(reset=True, answers=[answer_of(400)], chunk_size=12, interval=0.002)
        client.report_times.clear()
        doc = client.open(f"file:///bench/first{n}.py", CODE)
        await client.ask(uri=doc.uri, prompt="p", mode="chat")
        (stream,) = await fake.streams()
        latencies.append(client.report_times[0] - stream["first_line_at"])
    return latencies


async def edit_traffic(client: TimedClient, fake: FakeProcess, chars: int) -> dict[str, Any]:
    answer = fenced(chars)
    await fake.configure(reset=True, answers=[answer], chunk_size=12, interval=0.002)
    client.edit_times.clear()
    client.applied_edits.clear()
    client.edit_json_bytes = 0
    doc = client.open("file:///bench/edits.py", CODE)
    end = client.range_of(doc.uri, 0, len(CODE))
    await client.ask(uri=doc.uri, range=end, prompt="p", mode="replace")
    assert doc.text == answer_of(chars) + "\n", "the edits did not reproduce the answer"
    text_bytes = sum(
        len(edit.new_text.encode())
        for params in client.applied_edits
        for change in params.edit.document_changes
        for edit in change.edits
    )
    times = client.edit_times
    busiest = max(sum(1 for t in times if start <= t < start + 0.05) for start in times)
    gaps = [(b - a) * 1000 for a, b in itertools.pairwise(times)]
    return {
        "edits": len(times),
        "edit_gap_min_ms": min(gaps),
        "edit_gap_median_ms": statistics.median(gaps),
        "answer_bytes": len(answer.encode()),
        "edit_text_ratio": text_bytes / len(answer.encode()),
        "edit_json_ratio": client.edit_json_bytes / len(answer.encode()),
        "max_edits_per_50ms": busiest,
    }


async def concurrency(client: TimedClient, fake: FakeProcess, chars: int) -> dict[str, float]:
    async def asks(count: int) -> float:
        await fake.configure(
            reset=True, answers=[fenced(chars)] * count, chunk_size=12, interval=0.002
        )
        docs = [
            client.open(f"file:///bench/c{count}-{n}-{time.monotonic()}.py", CODE)
            for n in range(count)
        ]
        started = time.perf_counter()
        await asyncio.gather(
            *(
                client.ask(
                    uri=d.uri,
                    range=client.range_of(d.uri, 0, len(CODE)),
                    prompt="p",
                    mode="replace",
                )
                for d in docs
            )
        )
        return time.perf_counter() - started

    one = statistics.median([await asks(1) for _ in range(3)])
    eight = statistics.median([await asks(8) for _ in range(3)])
    return {"one_ms": one * 1000, "eight_ms": eight * 1000, "concurrency_ratio": eight / one}


async def round_trip(client: TimedClient, uri: str) -> float:
    """didChange, then a request: the server answers it only after handling the change."""
    doc = client.documents[uri]
    started = time.perf_counter()
    client.replace(uri, len(doc.text), len(doc.text), "x")
    await client.text_document_code_action_async(
        types.CodeActionParams(
            types.TextDocumentIdentifier(uri),
            client.range_of(uri, 0, 1),
            types.CodeActionContext(diagnostics=[]),
        )
    )
    return time.perf_counter() - started


async def responsiveness(client: TimedClient, fake: FakeProcess, samples: int) -> dict[str, float]:
    typed = client.open("file:///bench/typed.py", CODE)
    idle = [await round_trip(client, typed.uri) for _ in range(samples)]
    await fake.configure(reset=True, answers=[fenced(16_000)], chunk_size=12, interval=0.001)
    doc = client.open("file:///bench/streaming.py", CODE)
    task = asyncio.ensure_future(
        client.ask(
            uri=doc.uri, range=client.range_of(doc.uri, 0, len(CODE)), prompt="p", mode="replace"
        )
    )
    while not client.progress_reports or not doc.text.startswith("line 0"):
        await asyncio.sleep(0.005)
    busy = []
    while not task.done() and len(busy) < samples:
        busy.append(await round_trip(client, typed.uri))
    await task
    idle_ms = statistics.median(idle) * 1000
    busy_ms = statistics.median(busy) * 1000
    return {
        "rtt_idle_ms": idle_ms,
        "rtt_streaming_ms": busy_ms,
        "rtt_ratio": busy_ms / idle_ms,
        "rtt_samples_streaming": len(busy),
    }


async def cancel_latency(client: TimedClient, fake: FakeProcess, runs: int) -> list[float]:
    latencies = []
    for n in range(runs):
        await fake.configure(
            reset=True, answers=[fenced(4000)], chunk_size=12, scenario="slow", slow_interval=0.01
        )
        doc = client.open(f"file:///bench/cancel{n}.py", CODE)
        before = set(client.progress_reports)
        task = asyncio.ensure_future(
            client.ask(
                uri=doc.uri,
                range=client.range_of(doc.uri, 0, len(CODE)),
                prompt="p",
                mode="replace",
            )
        )
        while not (set(client.progress_reports) - before) or not doc.text.startswith("line 0"):
            await asyncio.sleep(0.002)
        (token,) = set(client.progress_reports) - before
        sent = time.monotonic()
        client.window_work_done_progress_cancel(types.WorkDoneProgressCancelParams(token))
        await task
        (stream,) = await fake.streams()
        latencies.append(stream["client_gone_at"] - sent)
    await fake.configure(scenario="ok")
    return latencies


@contextlib.asynccontextmanager
async def served() -> AsyncIterator[tuple[TimedClient, FakeProcess]]:
    """A fresh server with a VS Code client, and the fake in its own process."""
    with tempfile.TemporaryDirectory() as folder:
        cookie_file = str(Path(folder) / "cookies.json")
        Path(cookie_file).write_text('{"ecto_1_sess": "bench"}')
        async with FakeProcess() as fake:
            client = await start(fake, cookie_file)
            try:
                yield client, fake
            finally:
                await stop(client)


async def run(quick: bool) -> dict[str, Any]:
    async with served() as (client, fake):
        first = await first_report_latency(client, fake, 5 if quick else 20)
        traffic = await edit_traffic(client, fake, 2000 if quick else 8000)
        together = await concurrency(client, fake, 1000 if quick else 4000)
        rtt = await responsiveness(client, fake, 10 if quick else 40)
        cancels = await cancel_latency(client, fake, 3 if quick else 10)
    return {
        "first_report_ms": statistics.median(first) * 1000,
        "first_report_max_ms": max(first) * 1000,
        **traffic,
        **together,
        **rtt,
        "cancel_ms": statistics.median(cancels) * 1000,
        "cancel_max_ms": max(cancels) * 1000,
    }
