"""Answers written into documents, until the user keeps, discards or edits them: their
regions stay tracked, carry "Keep · Discard · Retry" code lenses, and Discard puts the
original text back even after edits elsewhere in the document."""

from __future__ import annotations

import dataclasses
import itertools
from typing import TYPE_CHECKING

from lsprotocol import types

from .text import TextIndex

if TYPE_CHECKING:
    from pygls.workspace import TextDocument

    from .arguments import AskRequest
    from .sync import Change
    from .writer import DocumentWriter

MAX_PER_DOCUMENT = 10  # older answers are kept implicitly (each follows every change)

LENSES = (("Keep", "metaai.keep"), ("Discard", "metaai.discard"), ("Retry", "metaai.retry"))


@dataclasses.dataclass(eq=False)
class WrittenAnswer:
    id: int
    request: AskRequest
    writer: DocumentWriter
    # Offsets when the ask started: of the selection asked about, and of the region.
    selection: tuple[int, int]
    region_start: int

    @property
    def uri(self) -> str:
        return self.request.uri

    def selection_now(self) -> tuple[int, int]:
        """The selection's offsets now, moved as the region moved (edits before it)."""
        shift = self.writer.sync.start - self.region_start
        return self.selection[0] + shift, self.selection[1] + shift


class WrittenAnswers:
    def __init__(self) -> None:
        self._by_uri: dict[str, list[WrittenAnswer]] = {}
        self._ids = itertools.count(1)
        self._gone: dict[str, str] = {}

    def add(
        self,
        request: AskRequest,
        writer: DocumentWriter,
        selection: tuple[int, int],
        region_start: int,
        replaces: int | None = None,
    ) -> None:
        """``replaces``: the id of the answer this one took the place of (retried, or
        asked over), kept so that the lenses an editor still shows there address it."""
        self._gone.pop(request.uri, None)
        answers = self._by_uri.setdefault(request.uri, [])
        answer_id = replaces if replaces is not None else next(self._ids)
        answer = WrittenAnswer(answer_id, request, writer, selection, region_start)
        answers.append(answer)
        del answers[:-MAX_PER_DOCUMENT]

    def on_uri(self, uri: str) -> list[WrittenAnswer]:
        return list(self._by_uri.get(uri, ()))

    def find(self, uri: str, answer_id: int | None = None) -> WrittenAnswer | None:
        """The answer with that id, or the document's latest."""
        answers = self._by_uri.get(uri, [])
        if answer_id is None:
            return answers[-1] if answers else None
        return next((a for a in answers if a.id == answer_id), None)

    def drop(self, answer: WrittenAnswer) -> None:
        answers = self._by_uri.get(answer.uri, [])
        if answer in answers:
            answers.remove(answer)
        if not answers:
            self._by_uri.pop(answer.uri, None)

    def forget_document(self, uri: str, reason: str = "") -> bool:
        """Forget the document's answers; Keep · Discard · Retry then say why they went."""
        forgotten = self._by_uri.pop(uri, None) is not None
        if forgotten and reason:
            self._gone[uri] = reason
        elif not forgotten:
            self._gone.pop(uri, None)  # the reason of answers gone long ago no longer matters
        return forgotten

    def gone(self, uri: str) -> str | None:
        """Why the document's answers went, if they did."""
        return self._gone.get(uri)

    def keep_overlapping(self, uri: str, start: int, end: int) -> int | None:
        """A new ask over written answers keeps them; the id of the first, if any."""
        chosen = [a for a in self.on_uri(uri) if a.writer.sync.overlaps(start, end)]
        for answer in chosen:
            self.drop(answer)
        return chosen[0].id if chosen else None

    def observe(self, params: types.DidChangeTextDocumentParams, document: TextDocument) -> bool:
        """Follow the user's edits; an edit inside an answer keeps it. True if one was kept."""
        kept = False
        shared: tuple[str, list[Change]] | None = None
        for answer in self.on_uri(document.uri):
            # The answers follow the same text: the changes are read once for all of them.
            base = answer.writer.sync.reported_text
            if shared is None or shared[0] != base:
                shared = (base, answer.writer.changes_of(params))
            answer.writer.observe(params, document, shared[1])
            if answer.writer.sync.conflict:
                self.drop(answer)
                kept = True
        return kept


def code_lenses(answers: list[WrittenAnswer], index: TextIndex) -> list[types.CodeLens]:
    text = index.text
    lenses = []
    for answer in answers:
        position = index.position(min(answer.writer.sync.start, len(text)))
        where = types.Range(position, position)
        argument = {"uri": answer.uri, "id": answer.id}
        for title, command in LENSES:
            # Retry asks again: the client is not made to wait for the whole answer.
            given = {**argument, "wait": False} if command == "metaai.retry" else argument
            lenses.append(
                types.CodeLens(
                    where, types.Command(title=title, command=command, arguments=[given])
                )
            )
    return lenses
