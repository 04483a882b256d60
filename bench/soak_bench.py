"""A server running all day: many asks and keystrokes in one server, its resident memory
(RSS, what the C allocator keeps included) after a warm-up and at the end."""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from lsprotocol import types

from bench.server_bench import SERVER, served

CODE = "def f(x):\n    return x\n"


def rss_mb(pid: int, field: str = "VmRSS") -> float:
    """Resident memory (VmRSS), or its peak (VmHWM), in MB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no {field}")


async def large_message(megabytes: int, limit_mb: int) -> dict[str, float]:
    """One didOpen of ``megabytes``: the server's peak and resident memory after it."""
    process = await asyncio.create_subprocess_exec(
        *SERVER,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.DEVNULL,
        env={**os.environ, "METAAI_MAX_MESSAGE_MB": str(limit_mb)},
    )

    def send(message: dict[str, Any]) -> None:
        body = json.dumps(message).encode()
        process.stdin.write(b"Content-Length: %d\r\n\r\n" % len(body) + body)

    async def answer() -> None:
        header = await process.stdout.readuntil(b"\r\n\r\n")
        await process.stdout.readexactly(int(header.split(b": ")[1].split(b"\r")[0]))

    send({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {"capabilities": {}}})
    await answer()
    before = rss_mb(process.pid)
    text = ("x" * 79 + "\n") * (megabytes * (1 << 20) // 80)
    item = {"uri": "file:///big.txt", "languageId": "text", "version": 1, "text": text}
    send({"jsonrpc": "2.0", "method": "textDocument/didOpen", "params": {"textDocument": item}})
    send({"jsonrpc": "2.0", "id": 2, "method": "shutdown"})
    await asyncio.wait_for(answer(), 120)
    await asyncio.sleep(0.2)
    figures = {
        "before_mb": round(before, 1),
        "peak_mb": round(rss_mb(process.pid, "VmHWM"), 1),
        "after_mb": round(rss_mb(process.pid), 1),
    }
    send({"jsonrpc": "2.0", "method": "exit"})
    await process.wait()
    return figures


async def load(client: Any, uri: str, asks: int, keystrokes: int) -> None:
    """Asks replacing the whole document, with typing at its end between them."""
    per_ask = max(1, keystrokes // max(asks, 1))
    typed = 0
    for n in range(asks):
        text = client.documents[uri].text
        await client.ask(
            uri=uri, range=client.range_of(uri, 0, len(text)), prompt=f"ask {n}", mode="replace"
        )
        for _ in range(per_ask):
            end = len(client.documents[uri].text)
            client.replace(uri, end, end, "x" if typed % 40 else "\n")
            typed += 1
        await asyncio.sleep(0)
    await asyncio.sleep(0.3)  # the last didChanges


# Line breaks (LSP's three) and what str.splitlines() also breaks at (LSP does not).
SEPARATED = "x = 1\x0c\n# \u2028 é 😀\rdef f(x):\r\n\x85    return x\x0b\n\u2029\x1c\x1d\x1e end\n"
PIECES = [
    "a",
    "é",
    "😀",
    "\n",
    "\r",
    "\r\n",
    "\x0c",
    "\u2028",
    "\u2029",
    "\x85",
    "\x0b",
    "\x1c",
    "",
]


def random_edits(client: Any, uri: str, count: int, seed: int = 16) -> None:
    """``count`` random incremental changes anywhere (replacements, insertions, deletions
    of a few characters, separators included), as the user's typing."""
    import random

    chooser = random.Random(seed)
    for _ in range(count):
        text = client.documents[uri].text
        start = chooser.randint(0, len(text))
        end = min(len(text), start + chooser.choice([0, 0, 0, 1, 2, 4]))
        while 0 < start < len(text) and text[start - 1 : start + 1] == "\r\n":
            start -= 1  # not between the CR and LF of one line break
        while 0 < end < len(text) and text[end - 1 : end + 1] == "\r\n":
            end += 1
        typed = "".join(chooser.choice(PIECES) for _ in range(chooser.randint(0, 4)))
        client.replace(uri, start, max(start, end), typed)


async def copies_equal(client: Any, uri: str, prompts: Callable[[], Awaitable[list[str]]]) -> bool:
    """Whether the server's copy of the document is the editor's: the selection of a
    chat ask over all of it, as the fake received it (``prompts``: the prompts so far)."""
    text = client.documents[uri].text
    before = len(await prompts())
    await client.ask(uri=uri, range=client.range_of(uri, 0, len(text)), prompt="p", mode="chat")
    return text in (await prompts())[before]


async def run(quick: bool) -> dict[str, Any]:
    asks, keystrokes = (100, 300) if quick else (300, 1000)
    async with served() as (client, fake):
        pid = client._server.pid
        uri = "file:///bench/soak.py"
        client.open(uri, CODE)
        await load(client, uri, 30, 100)  # warm-up: imports, caches, first answers
        warm = rss_mb(pid)
        await load(client, uri, asks, keystrokes)
        end = rss_mb(pid)
        lenses = await client.text_document_code_lens_async(
            types.CodeLensParams(types.TextDocumentIdentifier(uri))
        )
        separated = "file:///bench/separators.py"
        client.open(separated, SEPARATED)
        random_edits(client, separated, 1000)
        equal = await copies_equal(client, separated, fake.prompts)
    size = 10 if quick else 50
    dropped = await large_message(size, limit_mb=16 if size > 16 else size // 2)
    parsed = await large_message(size, limit_mb=size * 2)
    return {
        "large_message_mb": size,
        "large_dropped": dropped,
        "large_parsed": parsed,
        "asks": asks,
        "keystrokes": keystrokes,
        "rss_after_warmup_mb": round(warm, 1),
        "rss_end_mb": round(end, 1),
        "growth_mb": round(end - warm, 2),
        "answers_waiting": len(lenses) // 3,
        "separators_edits": 1000,
        "separators_copies_equal": equal,
    }


if __name__ == "__main__":
    import sys

    print(asyncio.run(run("--quick" in sys.argv)))
