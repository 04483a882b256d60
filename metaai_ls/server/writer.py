"""Writing into one region of an open document through `workspace/applyEdit`: the
asyncio side of `EditSync` (versions, time-outs, retries when the editor refuses)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
from typing import TYPE_CHECKING

from lsprotocol import types

from .sync import Change, Edit, EditSync
from .text import TextIndex

if TYPE_CHECKING:
    from pygls.workspace import TextDocument

    from .server import MetaAILanguageServer

logger = logging.getLogger(__name__)

EDIT_INTERVAL = 0.055  # at most one edit per 50 ms, with a margin for delivery jitter
SETTLE_TIMEOUT = 2.0  # how long an applied edit may take to come back as didChange
APPLY_TIMEOUT = 10.0  # an editor that never answers workspace/applyEdit stops the writing
REFUSED_RETRY_WAIT = 0.2  # after a refused edit, wait this long at most for the newer text
ATTEMPTS = 3  # per write while streaming; the next write tries again
FINAL_ATTEMPTS = 100  # the last write (the answer, or the original back) must land


def apply_timeout() -> float:
    """METAAI_APPLY_EDIT_TIMEOUT, in seconds (default 10)."""
    try:
        return max(0.1, float(os.environ.get("METAAI_APPLY_EDIT_TIMEOUT", APPLY_TIMEOUT)))
    except ValueError:
        return APPLY_TIMEOUT


def changes_of(params: types.DidChangeTextDocumentParams, text: str, encoding: str) -> list[Change]:
    """A didChange's changes as offsets, each in the text the ones before it left."""
    changes: list[Change] = []
    index: TextIndex | None = None
    for change in params.content_changes:
        if isinstance(change, types.TextDocumentContentChangePartial):
            index = index or TextIndex(text, encoding)
            start, end = index.offset(change.range.start), index.offset(change.range.end)
            changes.append(Edit(start, max(start, end), change.text))
            index = index.replaced(start, max(start, end), change.text)
        else:
            changes.append(change.text)
            index = TextIndex(change.text, encoding)
    return changes


class DocumentWriter:
    """One region's edits: sent one at a time, each confirmed before the next."""

    def __init__(self, ls: MetaAILanguageServer, uri: str, sync: EditSync, label: str) -> None:
        self.ls = ls
        self.uri = uri
        self.sync = sync
        self.label = label  # the same for every edit of one answer: clients join them for undo
        self.unresponsive = False
        self.document_closed = False
        self._settled = asyncio.Event()
        self._settled.set()
        self._document_changed = asyncio.Event()
        self._last_edit = 0.0

    @property
    def stopped(self) -> bool:
        """No edit can be written any more (the document was closed, the editor stopped
        answering, or the server lost track of the text)."""
        return self.document_closed or self.unresponsive or self.sync.lost

    async def write(self, desired: str, attempts: int = ATTEMPTS) -> bool:
        """Edit the region towards ``desired``; True once it holds it."""
        await asyncio.sleep(max(0.0, self._last_edit + EDIT_INTERVAL - time.monotonic()))
        for _ in range(attempts):
            await self.settle()
            if self.stopped:
                return False
            edit = self.sync.edit_towards(desired)
            if edit is None:
                return True
            self._document_changed.clear()
            if await self._apply(edit):
                return True
            # Refused: the editor has a newer version. Retry as soon as its change is
            # here, so that a user typing fast still lets the answer through.
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._document_changed.wait(), REFUSED_RETRY_WAIT)
        return False

    async def settle(self) -> None:
        """Wait until the edit in flight came back from the editor as a change."""
        if self.sync.flight is None:
            return
        if self.ls.shutting_down:
            # Neovim stops reporting changes to a server it is stopping: its applied
            # edits are taken on trust (and the next goes unversioned, so it is not skipped).
            self.sync.trust()
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(self._settled.wait(), SETTLE_TIMEOUT)
        if self.sync.flight is not None:
            self.sync.timed_out()
            self._settled.set()

    async def _apply(self, edit: Edit) -> bool:
        document = self.ls.workspace.text_documents.get(self.uri)
        if document is None:
            self.closed()
            return False
        sync = self.sync
        index = TextIndex(sync.text, self.ls.position_encoding)
        text_edit = types.TextEdit(index.range(edit.start, edit.end), edit.new_text)
        # With edits taken on trust outstanding, the editor's version is unknown here.
        version = None if sync.awaiting_late_reports else document.version
        identifier = types.OptionalVersionedTextDocumentIdentifier(uri=self.uri, version=version)
        params = types.ApplyWorkspaceEditParams(
            edit=types.WorkspaceEdit(
                document_changes=[types.TextDocumentEdit(identifier, [text_edit])]
            ),
            label=self.label,
        )
        sync.sent(edit)
        self._settled.clear()
        applied = await self._send(params)
        if applied is None:
            self.unresponsive = True
            sync.timed_out()
        else:
            sync.answered(applied)
            if applied:
                self._last_edit = time.monotonic()
                if sync.awaiting_late_reports:
                    sync.trust()  # its report will come after the others
        if sync.flight is None:
            self._settled.set()
        return bool(applied)

    async def _send(self, params: types.ApplyWorkspaceEditParams) -> bool | None:
        """The editor's answer: applied or not; None when it never answered.

        A versioned edit left unanswered is sent once more if no change came meanwhile
        (Emacs lsp-mode can drop a server request, emacs-lsp/lsp-mode#4323): with the
        same version the editor applies it at most once."""
        timeout = apply_timeout()
        (change,) = params.edit.document_changes or [None]
        version = getattr(getattr(change, "text_document", None), "version", None)
        for _attempt in range(2 if version is not None else 1):
            try:
                result = await asyncio.wait_for(self.ls.workspace_apply_edit_async(params), timeout)
            except asyncio.TimeoutError:
                logger.warning("the editor did not answer workspace/applyEdit in %s s", timeout)
                document = self.ls.workspace.text_documents.get(self.uri)
                if document is None or document.version != version or self.sync.flight is None:
                    return None  # something came meanwhile: sending again is not safe
                continue
            except Exception as error:
                logger.warning("workspace/applyEdit failed: %s", error)
                return False
            return bool(result and result.applied)
        return None

    def changes_of(self, params: types.DidChangeTextDocumentParams) -> list[Change]:
        return changes_of(params, self.sync.reported_text, self.ls.position_encoding)

    def observe(
        self,
        params: types.DidChangeTextDocumentParams,
        document: TextDocument,
        changes: list[Change] | None = None,
    ) -> bool:
        """Replay one didChange (its changes read already, or not); True when it was (or
        held) the server's own edit."""
        sync = self.sync
        ours = sync.reported(self.changes_of(params) if changes is None else changes)
        if sync.flight is None:
            self._settled.set()
        self._document_changed.set()
        if sync.reported_text != document.source:
            sync.resync(document.source)
        return ours

    def closed(self, reason: str = "") -> None:
        self.document_closed = True
        self.sync.closed()
        self._settled.set()
