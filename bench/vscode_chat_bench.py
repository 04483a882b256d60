"""The VS Code chat view in the real VS Code (code-server, tests/vscode.py):

- first text: the time from the server writing an answer's first progress report (stamped
  by bench/stamped_server.py, which relays the server's stdout) to that text being rendered
  in the view (the webview's own wall clock, `data-first-text-at`); target <= 50 ms;
- memory: the view's JS heap and DOM nodes with a 200-turn conversation open (100 questions,
  100 answers of ~1.5 KB of Markdown with code) against an empty chat.

    python -m bench.vscode_chat_bench [--runs 8]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import textwrap
import time
from pathlib import Path

from tests.vscode import VSCode, missing, running_vscode

ANSWER = textwrap.dedent(
    """\
    Here is a version that keeps the **order** and drops duplicates:

    ```python
    def unique(items):
        seen = set()
        return [x for x in items if not (x in seen or seen.add(x))]
    ```

    - `seen` holds what came before;
    - the comprehension keeps the first of each.
    """
)


def make_long_conversation(state: Path, turns: int) -> str:
    import os

    os.environ["XDG_STATE_HOME"] = str(state)
    from metaai_ls.history import History, Turn

    store = History()
    record = None
    for n in range(turns // 2):
        question = Turn("user", f"question {n}: how do I drop duplicates, keeping the order?")
        answer = Turn("assistant", ANSWER * 3)
        record = store.add_turns(record.id if record else None, [question, answer], "account", None)
    assert record is not None
    return record.id


def first_text(code: VSCode, stamps: Path, runs: int) -> list[float]:
    code.fake(reset=True, scenario="ok", interval=0.03, chunk_size=6)
    code.open_chat()
    delays = []
    for n in range(runs):
        code.fake(answers=[ANSWER])
        code.palette("Meta AI: New chat")
        code.chat().locator(".empty").wait_for()
        code.chat_send(f"run {n}")
        code.wait_answers(1)
        shown = float(
            code.chat().locator(".turn.assistant .body").last.get_attribute("data-first-text-at")
        )
        written = float(stamps.read_text().split()[-1])
        delays.append(shown - written)
    return delays


def heap(code: VSCode) -> tuple[float, int]:
    frame = code.chat_frame()
    time.sleep(1)
    used = frame.evaluate("performance.memory.usedJSHeapSize")
    nodes = frame.evaluate("document.getElementsByTagName('*').length")
    return used / 2**20, nodes


def run(runs: int) -> dict:
    work = Path(tempfile.mkdtemp(prefix="metaai-vscode-bench-"))
    stamps = work / "stamps.txt"
    stamps.touch()
    wrapper = work / "stamped-metaai-ls"
    wrapper.write_text(
        f'#!/bin/sh\nSTAMP_FILE={stamps} exec {sys.executable} {Path(__file__).parent / "stamped_server.py"} "$@"\n'
    )
    wrapper.chmod(0o755)
    conversation = make_long_conversation(work / "state", 200)
    with running_vscode(
        work, {"a.py": "x = 1\n"}, work, {"metaai.serverPath": str(wrapper)}
    ) as code:
        delays = first_text(code, stamps, runs)
        code.palette("Meta AI: New chat")
        code.chat().locator(".empty").wait_for()
        empty = heap(code)
        code.palette("Meta AI: Past conversations")
        code.chat().locator(f".conversation[data-id='{conversation}'] .open").click()
        code.chat().locator(".turn.user >> text=question 99:").wait_for()
        full = heap(code)
        code.shot("bench-200-turns")
    return {
        "first_text_ms": {"median": statistics.median(delays), "max": max(delays), "runs": delays},
        "heap_mb": {"empty": empty[0], "turns_200": full[0]},
        "dom_nodes": {"empty": empty[1], "turns_200": full[1]},
    }


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=8)
    args = parser.parse_args()
    if reason := missing():
        print(f"skipped: {reason}")
        return 0
    results = run(args.runs)
    print(json.dumps(results, indent=1))
    t = results["first_text_ms"]
    print(
        f"first streamed text in the view after the server's first report: median {t['median']:.1f} ms, max {t['max']:.1f} ms (target <= 50 ms)"
    )
    h, d = results["heap_mb"], results["dom_nodes"]
    print(
        f"200-turn conversation view: JS heap {h['empty']:.1f} -> {h['turns_200']:.1f} MB, DOM nodes {d['empty']} -> {d['turns_200']}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
