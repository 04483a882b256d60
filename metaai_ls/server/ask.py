"""One `metaai.ask`: build the messages, run the account generator, stream the answer
to the editor as `$/progress` reports and versioned workspace edits, and clean up on
success, error and cancellation alike."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import itertools
import logging
import os
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from lsprotocol import types

from metaai_ls.redact import redact

from . import backend
from .arguments import AskRequest, invalid
from .documents import index_of
from .progress import Progress
from .prompts import AskContext, build_messages, describe_instruction
from .render import code_to_write, comment_block
from .settings import Settings
from .sync import EditSync, with_line_ending
from .text import TextIndex, scrub_surrogates
from .writer import FINAL_ATTEMPTS, DocumentWriter

if TYPE_CHECKING:
    from pygls.workspace import TextDocument

    from metaai_ls.provider import Conversation

    from .server import MetaAILanguageServer

logger = logging.getLogger(__name__)

FLUSH_INTERVAL = 0.055  # at most one flush per 50 ms, with a margin for delivery jitter

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
        keep_newline = text[start:end].endswith(("\n", "\r"))

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
    return AskContext(  # a lone surrogate from the editor cannot be sent to Meta
        instruction=scrub_surrogates(request.prompt),
        mode=request.mode,
        file_name=os.path.basename(document.path or document.uri) or document.uri,
        language=document.language_id or "plaintext",
        before=scrub_surrogates(text[before_start:start]),
        selection=scrub_surrogates(text[start:end]),
        after=scrub_surrogates(text[end:after_end]),
        diagnostics=request.diagnostics,
    )


class Ask:
    """One running ask and everything it needs to stop cleanly."""

    def __init__(
        self,
        ls: MetaAILanguageServer,
        request: AskRequest,
        messages: list[dict[str, str]],
        writer: DocumentWriter | None,
        render: Renderer | None,
        request_id: Any,
        progress: Progress,
        conversation: Conversation,
        begin_message: str = "",
    ) -> None:
        self.ls = ls
        self.request = request
        self.messages = messages
        self.writer = writer
        self.render = render
        self.request_id = request_id
        self.progress = progress
        self.conversation = conversation
        self.begin_message = begin_message or short(request.prompt)
        self.placement: tuple[tuple[int, int], int] | None = None  # selection, region start
        self.replaces: int | None = None  # the written answer this one takes the place of
        self._parts: list[str] = []
        self.changed = asyncio.Event()
        self.finished = asyncio.Event()
        self.last_flush = 0.0
        self.stream_task: asyncio.Task[None] | None = None
        self.cancel_reason: str | None = None
        self.dropped: str | None = None  # why the document can no longer take the answer
        self.kept = False  # the whole answer is in the document
        self.ended = asyncio.Event()

    @property
    def uri(self) -> str:
        return self.request.uri

    @property
    def answer(self) -> str:
        """The answer so far (kept as parts: appending to one string is quadratic)."""
        if len(self._parts) > 1:
            self._parts[:] = ["".join(self._parts)]
        return self._parts[0] if self._parts else ""

    @property
    def _answer_lines(self) -> str:
        """The answer with plain "\n" line breaks (rendering finds fences by them; the
        writer puts the document's own line breaks back)."""
        return with_line_ending(self.answer, "\n")

    def overlaps(self, start: int, end: int) -> bool:
        """Whether this ask writes where ``[start, end]`` is (touching counts)."""
        return self.writer is not None and self.writer.sync.overlaps(start, end)

    def cancel(self, reason: str) -> None:
        if self.stream_task is None or not self.stream_task.done():
            self.cancel_reason = reason  # (not started yet: it stops as it starts)
            if self.stream_task is not None:
                self.stream_task.cancel()

    # -- the run

    async def run(self) -> dict[str, Any]:
        try:
            return await self._run()
        finally:
            self.ended.set()

    async def _run(self) -> dict[str, Any]:
        # Meta AI is asked first; the progress token is created while it thinks.
        self.stream_task = asyncio.create_task(self._consume(), name=f"metaai ask {self.uri}")
        if self.cancel_reason is not None:
            self.stream_task.cancel()
        await self.progress.begin(progress_title(self.request), self.begin_message)
        pump = asyncio.create_task(self._pump(), name=f"metaai edits {self.uri}")
        outcome: dict[str, Any] = {}
        try:
            await asyncio.shield(self.stream_task)
        except asyncio.CancelledError:
            if not self.stream_task.cancelled():
                self.stream_task.cancel()  # the whole request was cancelled
            outcome = {"error": self.dropped} if self.dropped else {"cancelled": True}
        except Exception as error:
            outcome = {"error": self._report_failure(error)}
        await self._stop_pump(pump)
        outcome = await self._finish(outcome)
        return {"text": self.answer, **outcome}

    async def _consume(self) -> None:
        from metaai_ls.provider import Revision

        stream = await backend.answer(self.ls.settings, self.messages, self.conversation)
        async with contextlib.aclosing(stream) as results:
            async for result in results:
                if isinstance(result, Revision):
                    # The final answer is authoritative: the document ends with it.
                    self.ls.log(types.MessageType.Info, "Meta AI revised its streamed answer")
                    self._parts[:] = [scrub_surrogates(result.text)]
                else:  # a lone surrogate would break the editor's JSON reader
                    self._parts.append(scrub_surrogates(str(result)))
                self.changed.set()

    async def _pump(self) -> None:
        """Flush the answer to the editor as it grows, at most once per interval."""
        while not self.finished.is_set():
            await self.changed.wait()
            self.changed.clear()
            await self._flush()
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
            if self.writer is not None:
                self.writer.sync.conflict = True

    async def _flush(self) -> None:
        self.last_flush = time.monotonic()
        self.progress.report(self.answer)
        if self.writer is None or self.render is None or self.writer.sync.conflict:
            return
        desired = self.render(self._answer_lines, False)
        if desired is not None:
            await self.writer.write(desired)

    async def _finish(self, outcome: dict[str, Any]) -> dict[str, Any]:
        """End the ask; an answer that did not land is an error, never a silent success."""
        self.progress.report(self.answer)
        if self.writer is not None:
            problem = await self._close_region(succeeded=not outcome)
            if problem is not None and not outcome:
                outcome = {"error": problem}
        if self.writer is not None and self.writer.document_closed and "error" in outcome:
            self.ls.show(types.MessageType.Warning, f"Meta AI: {outcome['error']}")
            self.ls.log(types.MessageType.Info, f"Meta AI's answer so far:\n{self.answer}")
        if "cancelled" in outcome:
            self.ls.log(types.MessageType.Info, f"Meta AI: {self.cancel_reason or 'cancelled'}")
        self.progress.end(
            "Cancelled" if "cancelled" in outcome else "Failed" if outcome else "Done"
        )
        return outcome

    async def _close_region(self, succeeded: bool) -> str | None:
        """The region ends as the whole answer, or as the original text (followed by
        what the user typed inside it): never a fragment. Why the answer is not in the
        document, when it should be."""
        assert self.writer is not None and self.render is not None
        writer, sync = self.writer, self.writer.sync
        if not writer.document_closed:
            final = self.render(self._answer_lines, True) if succeeded else None
            target = sync.closing_text(final)
            landed = await writer.write(target, FINAL_ATTEMPTS)
            await writer.settle()
            self.kept = landed and target == final and not sync.conflict
        if writer.document_closed:  # nothing left to write into (_finish tells why)
            return self.dropped or f"{CLOSED}: the answer was not written"
        problem = _STOPPED if writer.stopped else _CONFLICT if sync.conflict else None
        if succeeded and not self.kept:
            problem = problem or _NOT_LANDED
            self.ls.log(types.MessageType.Info, f"Meta AI's answer:\n{self.answer}")
        if problem is not None:
            self.ls.show(types.MessageType.Warning, problem)
        return problem if succeeded and not self.kept else None

    def _report_failure(self, error: Exception) -> str:
        from metaai_ls.provider import MetaAIError

        if isinstance(error, MetaAIError):
            message = redact(error.message)
            self.ls.log(types.MessageType.Error, f"{type(error).__name__}: {message}")
        else:
            logger.exception("metaai.ask failed")
            message = f"metaai-ls failed unexpectedly ({type(error).__name__}); see its log."
            self.ls.log(types.MessageType.Error, f"{type(error).__name__}: {error}")
        self.ls.show(types.MessageType.Error, f"Meta AI: {message}")
        return message

    # -- the editor's side

    def observe(self, params: types.DidChangeTextDocumentParams, document: TextDocument) -> None:
        if self.writer is not None:
            self.writer.observe(params, document)

    def closed(self, reason: str = "") -> None:
        """The document went away (closed, or opened again with a new text): the answer
        has nowhere to go, so its stream stops too."""
        if self.writer is not None:
            self.writer.closed()
            self.dropped = (
                f"{reason or CLOSED} while the answer was being written: it was not "
                "written (what had come is in the log)"
            )
            self.cancel(self.dropped)


_CONFLICT = (
    "Meta AI stopped writing because the text it was writing was edited meanwhile: the "
    "original text is back, followed by anything you typed there. The full answer is in "
    "the log."
)
CLOSED = "the document was closed"
REOPENED = "the document was opened again (reloaded from disk)"
_NOT_LANDED = (
    "Meta AI could not write its answer: the editor kept refusing the edit (the "
    "document changed too fast?). The full answer is in the log."
)
_STOPPED = (
    "Meta AI stopped writing: the editor did not answer its edits, so the document may "
    "hold part of the answer (undo removes it). The full answer is in the log."
)


def short(text: str, limit: int = 80) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


async def run_ask(
    ls: MetaAILanguageServer,
    request: AskRequest,
    request_id: Any,
    token: Any = None,
    replaces: int | None = None,
) -> dict[str, Any]:
    """Validate the request against the open document, then run it to the end.

    ``token``: the client's work-done token from the command's params, if it gave one;
    ``replaces``: the id of the written answer a retry takes the place of.
    """
    prepared = prepare_ask(ls, request, request_id, token, replaces)
    if isinstance(prepared, dict):
        return prepared
    return await run_prepared(ls, prepared)


def start_ask(ls: MetaAILanguageServer, request: AskRequest) -> dict[str, Any]:
    """`"wait": false`: validated now, answered `{"started": true}` at once; the answer
    streams and is written as with a waiting request, its end told through the progress
    `end` and `window/showMessage`. On the server's own progress token: a client's
    workDoneToken ends with its request."""
    prepared = prepare_ask(ls, request, object(), None)
    if isinstance(prepared, dict):
        return {"started": False, **prepared}
    ls.spawn(_run_in_background(ls, prepared), f"metaai.ask on {request.uri}")
    return {"started": True}


async def _run_in_background(ls: MetaAILanguageServer, ask: Ask) -> None:
    tell_outcome(ls, ask.request, await run_prepared(ls, ask))


def tell_outcome(ls: MetaAILanguageServer, request: AskRequest, result: dict[str, Any]) -> None:
    """What a client that did not wait learns besides the progress `end` (errors were
    shown already): a cancel, and a chat answer itself."""
    if result.get("cancelled"):
        ls.show(types.MessageType.Info, "Meta AI: cancelled; nothing half-written was left.")
    elif "error" not in result and request.mode == "chat":
        ls.log(types.MessageType.Info, f"Meta AI's answer:\n{result['text']}")
        ls.show(types.MessageType.Info, f"Meta AI: {_capped(result['text'])}")


def prepare_ask(
    ls: MetaAILanguageServer,
    request: AskRequest,
    request_id: Any,
    token: Any,
    replaces: int | None = None,
) -> Ask | dict[str, Any]:
    """The ask, ready to run and counted as running; or its refusal (another answer is
    being written there). Bad input raises InvalidParams."""
    document = ls.workspace.text_documents.get(request.uri)
    if document is None:
        raise invalid(f"{request.uri} is not open in the editor (open it first)")
    index = index_of(document, ls.position_encoding)
    start, end = _selection_offsets(request, index)
    settings: Settings = ls.settings
    context = make_context(request, document, index, start, end, settings.context_lines)
    target = plan_target(request, index, start, end, context.language)
    if target is not None and not ls.can_apply_edits:
        target = None  # the answer is returned and reported only
    writer = None
    if target is not None:
        if ls.asks.writing_over(request.uri, target.start, target.end):
            ls.show(types.MessageType.Warning, f"Meta AI: {BUSY}")
            return {"text": "", "error": BUSY}
        kept_id = ls.answers.keep_overlapping(request.uri, target.start, target.end)
        if kept_id is not None:
            replaces = kept_id if replaces is None else replaces
            ls.refresh_code_lenses()
        sync = EditSync(index.text, target.start, target.end)
        writer = DocumentWriter(ls, request.uri, sync, f"Meta AI #{next(_labels)}")
    progress = Progress(ls, token, settings.progress_deltas)
    render = target.render if target else None
    conversation = ls.conversation_for(request.uri, request.new_conversation)
    begin = short(describe_instruction(request.prompt, context))
    messages = build_messages(context)
    ask = Ask(ls, request, messages, writer, render, request_id, progress, conversation, begin)
    if target is not None:
        ask.placement = ((start, end), target.start)
        ask.replaces = replaces
    ls.asks.add(ask)
    return ask


async def run_prepared(ls: MetaAILanguageServer, ask: Ask) -> dict[str, Any]:
    """Run a prepared ask to its end; a written answer gets its Keep · Discard · Retry."""
    try:
        result = await ask.run()
    finally:
        ls.asks.discard(ask)
    if ask.kept and ask.writer is not None and ask.placement is not None:
        selection, region_start = ask.placement
        # A replacing answer keeps the old id: the lenses an editor still shows there reach it.
        ls.answers.add(ask.request, ask.writer, selection, region_start, ask.replaces)
        ls.refresh_code_lenses()
    return result


def progress_title(request: AskRequest) -> str:
    """The action's name: the code action's, else what the mode does."""
    name = request.title or {"replace": "Replace", "insert": "Insert", "chat": "Ask"}[request.mode]
    return f"Meta AI: {name}"


SHOWN_ANSWER_LIMIT = 2000


def _capped(text: str) -> str:
    if len(text) <= SHOWN_ANSWER_LIMIT:
        return text
    return text[:SHOWN_ANSWER_LIMIT] + "… (the whole answer is in the log)"


BUSY = (
    "another answer is being written there; wait for it, or cancel it (Meta AI: Cancel), "
    "before asking again"
)
_labels = itertools.count(1)


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
