"""The cost of one keystroke (an incremental didChange) on a 1 MB single line, side by
side with a 100-character line: through the whole server, and for the document copy
alone with pygls's own TextDocument (the old path) next to the server's LspDocument."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from lsprotocol import types
from pygls.workspace import TextDocument
from pygls.workspace.position_codec import PositionCodec

from bench.server_bench import served
from metaai_ls.server.documents import LspDocument

ONE_MB = 1 << 20


def line_of(chars: int) -> str:
    """One line, not ASCII (no fast path for the encodings)."""
    return "é = '" + "x" * (chars - 7) + "'\n"


def keystroke(at: int, version: int, uri: str) -> types.DidChangeTextDocumentParams:
    position = types.Position(0, at)
    change = types.TextDocumentContentChangePartial(types.Range(position, position), "k")
    return types.DidChangeTextDocumentParams(
        types.VersionedTextDocumentIdentifier(uri=uri, version=version), [change]
    )


def document_ms(kind: type[TextDocument], chars: int, keys: int) -> float:
    """Milliseconds per keystroke applied to one document copy (UTF-16 columns)."""
    document = kind("file:///k.py", line_of(chars), 1, position_codec=PositionCodec("utf-16"))
    column = chars - 2  # before the closing quote
    started = time.perf_counter()
    for n in range(keys):
        document.apply_change(keystroke(column + n, n + 2, document.uri).content_changes[0])
    return (time.perf_counter() - started) * 1000 / keys


async def server_ms(client: Any, chars: int, keys: int) -> float:
    """Milliseconds per keystroke through the server, up to the answer of a request sent
    after the last one (the server handles messages in order)."""
    uri = f"file:///bench/line{chars}.py"
    client.text_document_did_open(
        types.DidOpenTextDocumentParams(types.TextDocumentItem(uri, "python", 1, line_of(chars)))
    )
    barrier = types.CodeLensParams(types.TextDocumentIdentifier(uri))
    await client.text_document_code_lens_async(barrier)
    started = time.perf_counter()
    for n in range(keys):
        client.text_document_did_change(keystroke(chars - 2 + n, n + 2, uri))
    await client.text_document_code_lens_async(barrier)
    return (time.perf_counter() - started) * 1000 / keys


async def run(quick: bool) -> dict[str, Any]:
    keys = 50 if quick else 200
    old_keys = 3 if quick else 10  # the old path is slow on the long line
    async with served() as (client, _):
        through_server = {
            "server_1mb_ms": round(await server_ms(client, ONE_MB, keys), 3),
            "server_100_ms": round(await server_ms(client, 100, keys), 3),
        }
    return {
        "keystrokes": keys,
        **through_server,
        "document_1mb_ms": round(document_ms(LspDocument, ONE_MB, keys), 3),
        "document_100_ms": round(document_ms(LspDocument, 100, keys), 4),
        "pygls_1mb_ms": round(document_ms(TextDocument, ONE_MB, old_keys), 1),
        "pygls_100_ms": round(document_ms(TextDocument, 100, keys), 4),
    }


def rows(k: dict[str, Any]) -> list[tuple[str, str, str]]:
    return [
        (
            "keystroke through the server: 1 MB line vs 100-char line",
            f"{k['server_1mb_ms']:.1f} vs {k['server_100_ms']:.2f} ms",
            "",
        ),
        (
            "keystroke, document copy: LspDocument vs pygls TextDocument (1 MB line)",
            f"{k['document_1mb_ms']:.1f} vs {k['pygls_1mb_ms']:.0f} ms",
            "",
        ),
    ]


if __name__ == "__main__":
    import sys

    print(asyncio.run(run("--quick" in sys.argv)))
