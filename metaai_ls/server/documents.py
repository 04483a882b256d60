"""The server's copy of each open document, with LSP's line breaks.

pygls 2.1.1's TextDocument splits lines with ``str.splitlines()``, which also breaks at
form feeds, vertical tabs, U+0085, U+2028, U+2029, \\x1c-\\x1e: its incremental changes
and positions then miss the editor's by a line at each of them. Here every line-based
computation goes through `TextIndex` (one splitter), kept up to date change by change.
Overrides pygls's private `_apply_incremental_change`: pygls is pinned in pyproject.toml.
"""

from __future__ import annotations

from collections.abc import Sequence

from lsprotocol import types
from pygls.workspace import TextDocument, Workspace
from pygls.workspace.position_codec import ServerTextPosition

from .text import TextIndex, lsp_lines


class LspDocument(TextDocument):
    _index: TextIndex | None = None

    @property
    def encoding(self) -> str:
        return str(self.position_codec.encoding or types.PositionEncodingKind.Utf16)

    @property
    def index(self) -> TextIndex:
        """The index of the text as it is now (rebuilt only after a whole new text)."""
        source = self.source
        if self._index is None or self._index.text is not source:
            self._index = TextIndex(source, self.encoding)
        return self._index

    def _apply_incremental_change(self, change: types.TextDocumentContentChangePartial) -> None:
        index = self.index
        start, end = index.offset(change.range.start), index.offset(change.range.end)
        self._index = index.replaced(start, max(start, end), change.text)
        self._source = self._index.text

    @property
    def lines(self) -> Sequence[str]:
        return tuple(lsp_lines(self.source))

    def offset_at_position(self, client_position: types.Position) -> int:
        return self.index.offset(client_position)

    def client_position_at_offset(self, offset: int) -> types.Position:
        return self.index.position(offset)

    def offset_at_server_position(self, server_position: ServerTextPosition) -> int:
        index = self.index
        if server_position.line >= index.line_count:
            return len(index.text)
        return index.line_starts[server_position.line] + server_position.character


class LspWorkspace(Workspace):
    """pygls's workspace, holding `LspDocument`s."""

    def _create_text_document(
        self,
        doc_uri: str,
        source: str | None = None,
        version: int | None = None,
        language_id: str | None = None,
    ) -> TextDocument:
        return LspDocument(
            doc_uri,
            source=source,
            version=version,
            language_id=language_id,
            sync_kind=self._sync_kind,
            position_codec=self._position_codec,
        )


def index_of(document: TextDocument, encoding: str) -> TextIndex:
    """The document's own index when it keeps one, else a new one."""
    if isinstance(document, LspDocument) and document.encoding == encoding:
        return document.index
    return TextIndex(document.source, encoding)
