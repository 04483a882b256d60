"""A pytest-lsp client that behaves like an editor: it keeps its own copy of each
document, applies `workspace/applyEdit` when the version matches (and refuses it when
not), reports every change back with `didChange`, and lets tests type into documents.

Positions are converted here independently of the server's code.
"""

from __future__ import annotations

import asyncio
import dataclasses
import re
import sys
from pathlib import Path
from typing import Any, Union

from lsprotocol import types
from pygls.protocol import default_converter
from pytest_lsp import LanguageClient
from pytest_lsp.client import register_lsp_features

SERVER_COMMAND = [sys.executable, "-m", "metaai_ls", "--stdio"]


def _units(text: str, encoding: str) -> int:
    if encoding == "utf-8":
        return len(text.encode("utf-8", "surrogatepass"))
    if encoding == "utf-32":
        return len(text)
    return len(text.encode("utf-16-le", "surrogatepass")) // 2


# LSP's line breaks (and only those: not \f, \v, U+0085, U+2028 ... as str.splitlines).
LINE_BREAK = re.compile(r"\r\n|\r|\n")


def _line_starts(text: str) -> list[int]:
    return [0, *(found.end() for found in LINE_BREAK.finditer(text))]


def offset_of(text: str, position: types.Position, encoding: str) -> int:
    starts = _line_starts(text)
    start = starts[position.line]
    end = len(text) if position.line + 1 == len(starts) else starts[position.line + 1]
    line = text[start:end].rstrip("\r\n") if end > start else ""
    column = 0
    while column < len(line) and _units(line[:column], encoding) < position.character:
        column += 1
    assert _units(line[:column], encoding) == position.character, "position inside a character"
    return start + column


def position_of(text: str, offset: int, encoding: str) -> types.Position:
    starts = [s for s in _line_starts(text) if s <= offset]
    return types.Position(len(starts) - 1, _units(text[starts[-1] : offset], encoding))


@dataclasses.dataclass
class Document:
    uri: str
    text: str
    version: int
    language: str


class EditorClient(LanguageClient):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.documents: dict[str, Document] = {}
        self.applied_edits: list[types.ApplyWorkspaceEditParams] = []
        self.refused_edits = 0
        self.hold_edit_reports = False  # like eglot: applied edits reported later
        self.held_reports: list[types.DidChangeTextDocumentParams] = []
        self.encoding = "utf-16"
        # How a server edit comes back as didChange: "exact", or "split" as VS Code does
        # (the replaced text deleted, the new text inserted in pieces, line breaks in the
        # document's own way), or "whole" (one whole-document change).
        self.report_style = "exact"
        self.code_lens_refreshes = 0
        self.never_answer_edits = False
        self.drop_edit_requests = 0  # this many applyEdit requests are lost (never answered)
        self.dropped_edit_requests = 0
        self.edits_released = asyncio.Event()

    async def start_session(
        self,
        capabilities: types.ClientCapabilities,
        options: dict[str, Any],
        folder: str | None = None,
    ) -> types.InitializeResult:
        """Initialize, with ``folder`` (a path) as the one workspace folder if given."""
        folders = None
        if folder is not None:
            uri = Path(folder).resolve().as_uri()
            folders = [types.WorkspaceFolder(uri=uri, name=Path(folder).name)]
        params = types.InitializeParams(
            capabilities=capabilities,
            initialization_options=options,
            root_uri=folders[0].uri if folders else None,
            workspace_folders=folders,
        )
        result = await self.initialize_session(params)
        self.encoding = str(result.capabilities.position_encoding or "utf-16")
        return result

    def open(self, uri: str, text: str, language: str = "python") -> Document:
        document = Document(uri, text, 1, language)
        self.documents[uri] = document
        self.text_document_did_open(
            types.DidOpenTextDocumentParams(types.TextDocumentItem(uri, language, 1, text))
        )
        return document

    def close(self, uri: str) -> None:
        del self.documents[uri]
        self.text_document_did_close(
            types.DidCloseTextDocumentParams(types.TextDocumentIdentifier(uri))
        )

    def range_of(self, uri: str, start: int, end: int) -> types.Range:
        text = self.documents[uri].text
        return types.Range(
            position_of(text, start, self.encoding), position_of(text, end, self.encoding)
        )

    def replace(self, uri: str, start: int, end: int, new_text: str) -> None:
        """The user edits the document (offsets into the client's copy)."""
        self._change(uri, self.range_of(uri, start, end), new_text)

    def send_held_reports(self) -> None:
        """Report the held changes, as eglot does once its request returns."""
        held, self.held_reports = self.held_reports, []
        for params in held:
            self.text_document_did_change(params)

    def _change(self, uri: str, range_: types.Range, new_text: str, hold: bool = False) -> None:
        document = self.documents[uri]
        start = offset_of(document.text, range_.start, self.encoding)
        end = offset_of(document.text, range_.end, self.encoding)
        document.text = document.text[:start] + new_text + document.text[end:]
        document.version += 1
        change = types.TextDocumentContentChangePartial(range=range_, text=new_text)
        params = types.DidChangeTextDocumentParams(
            types.VersionedTextDocumentIdentifier(uri=uri, version=document.version), [change]
        )
        if hold:
            self.held_reports.append(params)
        else:
            self.text_document_did_change(params)

    def apply(self, params: types.ApplyWorkspaceEditParams) -> types.ApplyWorkspaceEditResult:
        for change in params.edit.document_changes or []:
            assert isinstance(change, types.TextDocumentEdit)
            document = self.documents.get(change.text_document.uri)
            version = change.text_document.version  # None: apply without a version check
            if document is None or version not in (None, document.version):
                self.refused_edits += 1
                return types.ApplyWorkspaceEditResult(applied=False, failure_reason="version")
            assert len(change.edits) == 1
            edit = change.edits[0]
            assert isinstance(edit, types.TextEdit)
            if self.report_style == "exact":
                self._change(document.uri, edit.range, edit.new_text, hold=self.hold_edit_reports)
            else:
                self._re_expressed(document, edit)
        self.applied_edits.append(params)
        return types.ApplyWorkspaceEditResult(applied=True)

    def _re_expressed(self, document: Document, edit: types.TextEdit) -> None:
        """Apply a server edit and report it the way VS Code (or a full-sync client) does."""
        old = document.text
        eol = "\r\n" if "\r\n" in old else "\n"
        new_text = edit.new_text.replace("\r\n", "\n").replace("\n", eol)
        start = offset_of(old, edit.range.start, self.encoding)
        end = offset_of(old, edit.range.end, self.encoding)
        document.text = old[:start] + new_text + old[end:]
        document.version += 1
        changes: list[types.TextDocumentContentChangeEvent] = []
        if self.report_style == "whole":
            changes.append(types.TextDocumentContentChangeWholeDocument(text=document.text))
        else:
            text = old
            pieces = [(start, end, "")] + [
                (start + at, start + at, new_text[at : at + 5]) for at in range(0, len(new_text), 5)
            ]
            for low, high, piece in pieces:
                if low == high and not piece:
                    continue
                range_ = types.Range(
                    position_of(text, low, self.encoding), position_of(text, high, self.encoding)
                )
                changes.append(types.TextDocumentContentChangePartial(range=range_, text=piece))
                text = text[:low] + piece + text[high:]
            assert text == document.text
        self.text_document_did_change(
            types.DidChangeTextDocumentParams(
                types.VersionedTextDocumentIdentifier(uri=document.uri, version=document.version),
                changes,
            )
        )

    async def ask(self, **arguments: Any) -> Any:
        return await self.workspace_execute_command_async(
            types.ExecuteCommandParams(command="metaai.ask", arguments=[arguments])
        )

    def ask_later(self, **arguments: Any) -> asyncio.Task[Any]:
        return asyncio.ensure_future(self.ask(**arguments))

    async def command(self, name: str, *arguments: Any) -> Any:
        return await self.workspace_execute_command_async(
            types.ExecuteCommandParams(command=name, arguments=list(arguments))
        )

    async def chat(self, **arguments: Any) -> Any:
        return await self.command("metaai.chat", arguments)

    def progress_messages(self) -> list[tuple[str, list[Any]]]:
        return list(self.progress_reports.items())


async def apply_edit(client: EditorClient, params: types.ApplyWorkspaceEditParams):
    if client.drop_edit_requests > client.dropped_edit_requests:
        client.dropped_edit_requests += 1
        await client.edits_released.wait()  # lost: neither applied nor answered
        return types.ApplyWorkspaceEditResult(applied=False)
    if client.never_answer_edits:
        await client.edits_released.wait()  # a client that does not answer (until told)
        return types.ApplyWorkspaceEditResult(applied=False)
    return client.apply(params)


def code_lens_refresh(client: EditorClient, params: None) -> None:
    client.code_lens_refreshes += 1


def _code_action_or_command(value: Any, _: Any) -> types.CodeAction | types.Command:
    # lsprotocol would read every object with a "command" key as a Command.
    converter = _CONVERTER
    if isinstance(value.get("command"), str):
        return converter.structure(value, types.Command)
    return converter.structure(value, types.CodeAction)


_CONVERTER = default_converter()


def editor_converter():
    converter = default_converter()
    converter.register_structure_hook(
        Union[types.Command, types.CodeAction],  # noqa: UP007 - the type lsprotocol uses
        _code_action_or_command,
    )
    return converter


def make_editor_client() -> EditorClient:
    client = EditorClient(converter_factory=editor_converter)
    register_lsp_features(client)
    client.feature(types.WORKSPACE_APPLY_EDIT)(apply_edit)
    client.feature(types.WORKSPACE_CODE_LENS_REFRESH)(code_lens_refresh)
    return client
