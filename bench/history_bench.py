"""The conversation history: a 200-turn conversation's stored size, and the time a real
server takes to answer `metaai.conversation` for it (and `metaai.conversations` over 200
conversations), for realistic turns and for turns at their cap."""

from __future__ import annotations

import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from lsprotocol import types
from pytest_lsp import client_capabilities

from metaai_ls import history
from metaai_ls.history import History, Turn
from tests.editor import make_editor_client

SERVER = [sys.executable, "-m", "metaai_ls", "--stdio"]
TURNS = 200


def fill(store: History, question_chars: int, answer_chars: int) -> str:
    """A conversation of TURNS turns; returns its id."""
    question = ("Why does this loop never end? 中 " * 40)[:question_chars]
    answer = ("Because `i` is never incremented: add `i += 1`. 😀 " * 800)[:answer_chars]
    record = None
    for _ in range(TURNS // 2):
        turns = [Turn("user", question, ["src/a.py:3-10"]), Turn("assistant", answer)]
        record = store.add_turns(record.id if record else None, turns, "account", None)
    assert record is not None
    return record.id


async def timed_commands(state: Path, conversation_id: str, runs: int) -> dict[str, float]:
    client = make_editor_client()
    env = {**os.environ, "XDG_STATE_HOME": str(state.parent)}
    await client.start_io(*SERVER, env=env)
    await client.start_session(client_capabilities("visual_studio_code"), {})

    async def median_ms(command: str, arguments: list[Any]) -> float:
        times = []
        for _ in range(runs):
            started = time.perf_counter()
            await client.workspace_execute_command_async(
                types.ExecuteCommandParams(command=command, arguments=arguments)
            )
            times.append((time.perf_counter() - started) * 1000)
        return statistics.median(times)

    try:
        shown = await median_ms("metaai.conversation", [{"id": conversation_id}])
        listed = await median_ms("metaai.conversations", [])
    finally:
        await client.shutdown_session()
        await client.stop()
    return {"conversation_ms": shown, "conversations_ms": listed}


async def case(question_chars: int, answer_chars: int, runs: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as folder:
        state = Path(folder) / "metaai-ls"
        store = History(state)
        for n in range(history.MAX_CONVERSATIONS - 1):
            store.add_turns(
                None, [Turn("user", f"question {n}"), Turn("assistant", "ok")], "api", None
            )
        conversation_id = fill(store, question_chars, answer_chars)
        started = time.perf_counter()
        store.add_turns(
            conversation_id, [Turn("user", "one more"), Turn("assistant", "ok")], "account", None
        )
        append_ms = (time.perf_counter() - started) * 1000
        size = (state / "conversations" / f"{conversation_id}.json").stat().st_size
        timings = await timed_commands(state, conversation_id, runs)
        return {
            "question_chars": question_chars,
            "answer_chars": answer_chars,
            "stored_kb": size / 1024,
            "append_ms": append_ms,
            **timings,
        }


async def run(quick: bool) -> dict[str, Any]:
    runs = 5 if quick else 20
    return {
        "turns": TURNS,
        "realistic": await case(300, 2_500, runs),
        "capped": await case(history.MAX_TURN_CHARS, history.MAX_TURN_CHARS, runs),
    }


def rows(results: dict[str, Any]) -> list[tuple[str, str, str]]:
    found = []
    for name in ("realistic", "capped"):
        row = results[name]
        found.append(
            (
                f"history: {results['turns']}-turn conversation, {name} turns "
                f"({row['question_chars']}/{row['answer_chars']} chars): stored, "
                "metaai.conversation, metaai.conversations (200), next turn written",
                f"{row['stored_kb']:.0f} KB, {row['conversation_ms']:.1f} ms, "
                f"{row['conversations_ms']:.1f} ms, {row['append_ms']:.1f} ms",
                "",
            )
        )
    return found
