"""`metaai.applyCode {uri, range, text}`: a chat view's Insert / Replace (Neovim's `ga`),
written through the server's versioned, labelled edit, so that one undo takes it back."""

from __future__ import annotations

import itertools
from typing import TYPE_CHECKING, Any

from .arguments import invalid, parse_range
from .ask import BUSY
from .documents import index_of
from .sync import EditSync
from .writer import FINAL_ATTEMPTS, DocumentWriter

if TYPE_CHECKING:
    from .server import MetaAILanguageServer

APPLY_COMMAND = "metaai.applyCode"
_labels = itertools.count(1)


def _arguments(arguments: tuple[Any, ...]) -> tuple[str, Any, str]:
    raw = arguments[0] if len(arguments) == 1 and isinstance(arguments[0], dict) else None
    if raw is None or not isinstance(raw.get("uri"), str) or not isinstance(raw.get("text"), str):
        raise invalid("expects one argument object {uri, range, text}", APPLY_COMMAND)
    range_ = parse_range(raw.get("range"), APPLY_COMMAND)
    if range_ is None:
        raise invalid("`range` is needed (an empty range inserts at a point)", APPLY_COMMAND)
    return raw["uri"], range_, raw["text"]


async def apply_code(ls: MetaAILanguageServer, arguments: tuple[Any, ...]) -> dict[str, Any]:
    uri, range_, text = _arguments(arguments)
    document = ls.workspace.text_documents.get(uri)
    if document is None:
        return _refused(f"{uri} is not open in the editor: open it, then apply the code again")
    index = index_of(document, ls.position_encoding)
    for name, position in (("start", range_.start), ("end", range_.end)):
        if not index.contains(position):
            return _refused(
                f"the range's {name} (line {position.line + 1}) is outside the document, "
                f"which has {index.line_count} lines: select where the code goes and try again"
            )
    start, end = index.offset(range_.start), index.offset(range_.end)
    if ls.asks.writing_over(uri, start, end):
        return _refused(BUSY)
    writer = DocumentWriter(
        ls, uri, EditSync(index.text, start, end), f"Meta AI #apply-{next(_labels)}"
    )
    ls.asks.add_writer(writer)
    try:
        landed = await writer.write(text, FINAL_ATTEMPTS)
        await writer.settle()
    finally:
        ls.asks.discard_writer(writer)
    if landed and not writer.stopped and not writer.sync.conflict:
        return {"applied": True}
    return _refused("the editor did not take the edit (the document changed meanwhile?): try again")


def _refused(error: str) -> dict[str, Any]:
    return {"applied": False, "error": error}
