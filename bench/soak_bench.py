"""A server running all day: many asks and keystrokes in one server, its resident memory
(RSS, what the C allocator keeps included) after a warm-up and at the end."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from lsprotocol import types

from bench.server_bench import served

CODE = "def f(x):\n    return x\n"


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS")


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


async def run(quick: bool) -> dict[str, Any]:
    asks, keystrokes = (100, 300) if quick else (300, 1000)
    async with served() as (client, _):
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
    return {
        "asks": asks,
        "keystrokes": keystrokes,
        "rss_after_warmup_mb": round(warm, 1),
        "rss_end_mb": round(end, 1),
        "growth_mb": round(end - warm, 2),
        "answers_waiting": len(lenses) // 3,
    }


if __name__ == "__main__":
    import sys

    print(asyncio.run(run("--quick" in sys.argv)))
