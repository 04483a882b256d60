"""One `metaai.ask`: build the messages, run the account generator, stream the answer
to the editor as `$/progress` reports and versioned workspace edits, and clean up on
success, error and cancellation alike."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import os
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from lsprotocol import types

from . import backend
from .arguments import AskRequest, invalid
from .progress import Progress
from .prompts import AskContext, build_messages
from .region import Edit, Region
from .render import code_to_write, comment_block
from .settings import Settings
from .text import TextIndex

if TYPE_CHECKING:
    from pygls.workspace import TextDocument

    from .server import MetaAILanguageServer

logger = logging.getLogger(__name__)

FLUSH_INTERVAL = 0.055  # at most one edit per 50 ms, with a margin for delivery jitter
SETTLE_TIMEOUT = 2.0  # how long an applied edit may take to come back as didChange
APPLY_ATTEMPTS = 3  # per flush while streaming; the next flush tries again
FINAL_APPLY_ATTEMPTS = 100  # the last edit (or the undo) must land
REFUSED_RETRY_WAIT = 0.2  # after a refused edit, wait this long at most for the newer text

Renderer = Callable[[str, bool], "str | None"]


@dataclasses.dataclass(frozen=True)
class Target:
    """Where the answer goes and what it looks like there."""

    start: int
    end: int
    render: Renderer


def plan_target(
    request: AskRequest, index: TextIndex, start: int, end: int, language: str
) -> Target | None:
    """The region to write into (None in chat mode)."""
    text = index.text
    if request.mode == "replace":
        keep_newline = text[start:end].endswith("\n")

        def replacement(answer: str, final: bool) -> str | None:
            return code_to_write(answer, final, keep_newline)

        return Target(start, end, replacement)
    if request.mode == "insert":
        line = index.position(end).line
        if end > start and index.position(end).character == 0:
            line -= 1  # a selection of whole lines ends at the next line's start
        first_line = index.line_text(index.position(start).line)
        indent = first_line[: len(first_line) - len(first_line.lstrip(" \t"))]
        if line + 1 < index.line_count:
            point, lead = index.line_starts[line + 1], ""
        else:
            point, lead = len(text), "\n"

        def comment(answer: str, final: bool) -> str | None:
            return comment_block(answer, language, indent, final, lead)

        return Target(point, point, comment)
    return None


def make_context(
    request: AskRequest, document: TextDocument, index: TextIndex, start: int, end: int, lines: int
) -> AskContext:
    text = index.text
    first = index.position(start).line
    last = index.position(end).line
    before_start = index.line_starts[max(first - lines, 0)]
    after_line = min(last + lines + 1, index.line_count)
    after_end = index.line_starts[after_line] if after_line < index.line_count else len(text)
    return AskContext(
        instruction=request.prompt,
        mode=request.mode,
        file_name=os.path.basename(document.path or document.uri) or document.uri,
        language=document.language_id or "plaintext",
        before=text[before_start:start],
        selection=text[start:end],
        after=text[end:after_end],
        diagnostics=request.diagnostics,
    )


class Ask:
    """One running ask and everything it needs to stop cleanly."""

    def __init__(
        self,
        ls: MetaAILanguageServer,
        request: AskRequest,
        messages: list[dict[str, str]],
        region: Region | None,
        render: Renderer | None,
        request_id: Any,
    ) -> None:
        self.ls = ls
        self.request = request
        self.messages = messages
        self.region = region
        self.render = render
        self.request_id = request_id
        self.progress = Progress(ls)
        self._parts: list[str] = []
        self.changed = asyncio.Event()
        self.finished = asyncio.Event()
        self.settled = asyncio.Event()
        self.settled.set()
        self.document_changed = asyncio.Event()
        self.acknowledged = False
        self.last_flush = 0.0
        self.last_edit = 0.0
        self.stream_task: asyncio.Task[None] | None = None
        self.cancel_reason: str | None = None

    @property
    def uri(self) -> str:
        return self.request.uri

    @property
    def answer(self) -> str:
        """The answer so far (kept as parts: appending to one string is quadratic)."""
        if len(self._parts) > 1:
            self._parts[:] = ["".join(self._parts)]
        return self._parts[0] if self._parts else ""

    def cancel(self, reason: str) -> None:
        if self.stream_task is not None and not self.stream_task.done():
            self.cancel_reason = reason
            self.stream_task.cancel()

    # -- the run

    async def run(self) -> dict[str, Any]:
        # Meta AI is asked first; the progress token is created while it thinks.
        self.stream_task = asyncio.create_task(self._consume(), name=f"metaai ask {self.uri}")
        await self.progress.begin(_short(self.request.prompt))
        pump = asyncio.create_task(self._pump(), name=f"metaai edits {self.uri}")
        outcome: dict[str, Any] = {}
        try:
            await asyncio.shield(self.stream_task)
        except asyncio.CancelledError:
            if not self.stream_task.cancelled():
                self.stream_task.cancel()  # the whole request was cancelled
            outcome = {"cancelled": True}
        except Exception as error:
            outcome = {"error": self._report_failure(error)}
        await self._stop_pump(pump)
        await self._finish(outcome)
        return {"text": self.answer, **outcome}

    async def _consume(self) -> None:
        from metaai_ls.provider import Revision

        conversation = self.ls.conversation_for(self.uri, self.request.new_conversation)
        stream = await backend.answer(self.ls.settings, self.messages, conversation)
        async with contextlib.aclosing(stream) as results:
            async for result in results:
                if isinstance(result, Revision):
                    # The final answer is authoritative: the document ends with it.
                    self.ls.log(types.MessageType.Info, "Meta AI revised its streamed answer")
                    self._parts[:] = [result.text]
                else:
                    self._parts.append(str(result))
                self.changed.set()

    async def _pump(self) -> None:
        """Flush the answer to the editor as it grows, at most once per interval."""
        while not self.finished.is_set():
            await self.changed.wait()
            self.changed.clear()
            await self._flush(final=False)
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self.finished.wait(), self._until_next_flush())

    def _until_next_flush(self) -> float:
        return max(0.0, self.last_flush + FLUSH_INTERVAL - time.monotonic())

    async def _stop_pump(self, pump: asyncio.Task[None]) -> None:
        self.finished.set()
        self.changed.set()
        try:
            await pump
        except Exception:
            logger.exception("streaming edits failed")
            if self.region is not None:
                self.region.conflict = True

    async def _flush(self, final: bool) -> None:
        self.last_flush = time.monotonic()
        self.progress.report(self.answer)
        if self.region is not None and self.render is not None:
            desired = self.render(self.answer, final)
            if desired is not None:
                await self._write(desired, FINAL_APPLY_ATTEMPTS if final else APPLY_ATTEMPTS)

    async def _finish(self, outcome: dict[str, Any]) -> None:
        if outcome:
            if self.region is not None:
                # Leave the document as it was before the ask.
                await self._write(self.region.original, FINAL_APPLY_ATTEMPTS)
            if "cancelled" in outcome:
                self.ls.log(types.MessageType.Info, f"Meta AI: {self.cancel_reason or 'cancelled'}")
            self.progress.end("Cancelled" if "cancelled" in outcome else "Failed")
            return
        await self._flush(final=True)
        await self._settle()
        if self.region is not None and self.region.conflict:
            self.ls.show(
                types.MessageType.Warning,
                "Meta AI stopped writing into the document because the text it was writing "
                "was changed meanwhile; nothing you typed was touched. The full answer is in "
                "the log.",
            )
            self.ls.log(types.MessageType.Info, f"Meta AI's answer:\n{self.answer}")
        self.progress.end("Done")

    def _report_failure(self, error: Exception) -> str:
        from metaai_ls.provider import MetaAIError

        if isinstance(error, MetaAIError):
            message = error.message
            self.ls.log(types.MessageType.Error, f"{type(error).__name__}: {message}")
        else:
            logger.exception("metaai.ask failed")
            message = f"metaai-ls failed unexpectedly ({type(error).__name__}); see its log."
            self.ls.log(types.MessageType.Error, f"{type(error).__name__}: {error}")
        self.ls.show(types.MessageType.Error, f"Meta AI: {message}")
        return message

    # -- edits

    async def _write(self, desired: str, attempts: int = APPLY_ATTEMPTS) -> None:
        region = self.region
        assert region is not None
        # At most one applied edit per interval, even when flushes bunch up.
        await asyncio.sleep(max(0.0, self.last_edit + FLUSH_INTERVAL - time.monotonic()))
        for _ in range(attempts):
            await self._settle()
            if region.conflict or (edit := region.edit_towards(desired)) is None:
                return
            self.document_changed.clear()
            if await self._apply(edit):
                return
            # Refused: the editor has a newer version. Retry as soon as its change is
            # here, so that a user typing fast still lets the answer through.
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self.document_changed.wait(), REFUSED_RETRY_WAIT)
        if attempts == FINAL_APPLY_ATTEMPTS:
            region.conflict = True  # reported to the user by _finish

    async def _apply(self, edit: Edit) -> bool:
        region = self.region
        assert region is not None
        document = self.ls.workspace.text_documents.get(self.uri)
        if document is None:
            region.conflict = True
            return True
        index = TextIndex(region.shadow, self.ls.position_encoding)
        text_edit = types.TextEdit(index.range(edit.start, edit.end), edit.new_text)
        # With assumed edits outstanding the editor's version is unknown here.
        version = None if region.unreported else document.version
        identifier = types.OptionalVersionedTextDocumentIdentifier(uri=self.uri, version=version)
        params = types.ApplyWorkspaceEditParams(
            edit=types.WorkspaceEdit(
                document_changes=[types.TextDocumentEdit(identifier, [text_edit])]
            ),
            label="Meta AI",
        )
        region.pending = edit
        self.acknowledged = False
        self.settled.clear()
        try:
            result = await self.ls.workspace_apply_edit_async(params)
        except Exception as error:
            logger.warning("workspace/applyEdit failed: %s", error)
            result = types.ApplyWorkspaceEditResult(applied=False)
        if result.applied:
            self.acknowledged = True
            self.last_edit = time.monotonic()
            if region.unreported and region.pending is edit:
                region.assume_applied()  # its report will come after the others
                self.settled.set()
            return True
        if region.pending is edit:  # refused, and not seen as a change
            region.pending = None
            self.settled.set()
        return False

    async def _settle(self) -> None:
        """Wait until the last edit came back from the editor as a change."""
        if self.region is None or self.region.pending is None:
            return
        try:
            await asyncio.wait_for(self.settled.wait(), SETTLE_TIMEOUT)
        except asyncio.TimeoutError:
            if self.acknowledged:
                # The editor applied it but holds its didChange until our request ends.
                logger.info("an applied edit was not reported back; taking the editor's word")
                self.region.assume_applied()
            else:
                logger.warning("an edit was never answered nor reported; writing stops")
                self.region.pending = None
                self.region.conflict = True

    # -- the user's changes

    def observe(self, params: types.DidChangeTextDocumentParams, document: TextDocument) -> None:
        region = self.region
        if region is None:
            return
        for change in params.content_changes:
            if isinstance(change, types.TextDocumentContentChangePartial):
                index = TextIndex(region.reported_text, self.ls.position_encoding)
                start, end = index.offset(change.range.start), index.offset(change.range.end)
                region.observe(Edit(start, end, change.text))
            else:
                region.observe_full_text(change.text)
        if region.pending is not None and self.acknowledged:
            region.pending = None  # the editor said "applied" yet dropped it
        if region.pending is None:
            self.settled.set()
        self.document_changed.set()
        if region.reported_text != document.source:
            logger.warning("lost track of %s; writing stops", self.uri)
            region.shadow = document.source
            region.unreported.clear()
            region.conflict = True

    def closed(self) -> None:
        if self.region is not None:
            self.region.conflict = True
            self.region.pending = None
        self.settled.set()


def _short(text: str, limit: int = 80) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


async def run_ask(ls: MetaAILanguageServer, request: AskRequest, request_id: Any) -> dict[str, Any]:
    """Validate the request against the open document, then run it to the end."""
    document = ls.workspace.text_documents.get(request.uri)
    if document is None:
        raise invalid(f"{request.uri} is not open in the editor (open it first)")
    index = TextIndex(document.source, ls.position_encoding)
    start, end = _selection_offsets(request, index)
    settings: Settings = ls.settings
    context = make_context(request, document, index, start, end, settings.context_lines)
    target = plan_target(request, index, start, end, context.language)
    if target is not None and not ls.can_apply_edits:
        target = None  # the answer is returned and reported only
    region = Region(index.text, target.start, target.end) if target else None
    ask = Ask(
        ls, request, build_messages(context), region, target.render if target else None, request_id
    )
    ls.asks.add(ask)
    try:
        return await ask.run()
    finally:
        ls.asks.discard(ask)


def _selection_offsets(request: AskRequest, index: TextIndex) -> tuple[int, int]:
    range_ = request.range
    if range_ is None:
        return 0, 0
    for name, position in (("start", range_.start), ("end", range_.end)):
        if not index.contains(position):
            raise invalid(
                f"`range.{name}` (line {position.line}, character {position.character}) is "
                f"outside the document, which has {index.line_count} lines"
            )
    return index.offset(range_.start), index.offset(range_.end)
