"""The conversations of the CLI and every editor: one history on disk, shared by processes.

Under ``$XDG_STATE_HOME/metaai-ls/`` (``~/.local/state/metaai-ls/`` when unset), folders
0700 and files 0600: one JSON file per conversation in ``conversations/`` and an
``index.json`` of their summaries, both replaced atomically (readers never see half a
file); every change happens under an exclusive ``flock`` of ``history.lock``, so two
editors and a terminal writing at once lose nothing. Bounded: at most
``MAX_CONVERSATIONS`` (the oldest dropped), the latest ``MAX_TURNS`` turns and
``MAX_CONVERSATION_CHARS`` of each, and each turn's text capped. Imports neither the CLI nor the server (both use it), nor the provider.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime
import itertools
import json
import logging
import os
import re
import uuid
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

logger = logging.getLogger(__name__)

MAX_CONVERSATIONS = 200
MAX_TURNS = 400  # per conversation: the oldest turns go first
MAX_CONVERSATION_CHARS = 4_000_000  # all of one conversation's turns: the oldest go first
MAX_TURN_CHARS = 32_000
MAX_TITLE_CHARS = 80
ID_PATTERN = re.compile(r"^[0-9a-f]{32}$")
SCHEMA = 1


@dataclasses.dataclass
class Turn:
    role: str  # "user" or "assistant"
    text: str
    references: list[str] = dataclasses.field(default_factory=list)  # names, as shown
    prompt: str | None = None  # what was sent, when it differs from ``text`` (the API door)
    error: str | None = None
    cancelled: bool = False

    @property
    def answered(self) -> bool:
        return self.role != "assistant" or not (self.error or self.cancelled)

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {"role": self.role, "text": self.text}
        if self.references:
            data["references"] = list(self.references)
        if self.prompt is not None:
            data["prompt"] = self.prompt
        if self.error:
            data["error"] = self.error
        if self.cancelled:
            data["cancelled"] = True
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Turn:
        return cls(
            role=str(data["role"]),
            text=str(data["text"]),
            references=[str(r) for r in data.get("references") or []],
            prompt=data.get("prompt"),
            error=data.get("error"),
            cancelled=bool(data.get("cancelled")),
        )

    def capped(self) -> Turn:
        return dataclasses.replace(
            self,
            text=cap(self.text),
            prompt=None if self.prompt is None else cap(self.prompt),
            references=self.references[:50],
        )


@dataclasses.dataclass
class Record:
    """One conversation. ``meta_id``/``meta_turns``: Meta's conversation on the account
    door, so that follow-ups continue it there."""

    id: str
    title: str
    door: str
    model: str | None
    created: str
    updated: str
    turns: list[Turn] = dataclasses.field(default_factory=list)
    meta_id: str | None = None
    meta_turns: int = 0

    def summary(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "title": self.title,
            "updated": self.updated,
            "turns": len(self.turns),
            "door": self.door,
            "model": self.model,
        }

    def view(self) -> dict[str, Any]:
        """`{id, title, updated, turns: [{role, text, ...}], ...}` without what only the
        doors need (the prompts sent, Meta's id)."""
        turns = [{k: v for k, v in t.to_json().items() if k != "prompt"} for t in self.turns]
        return {**self.summary(), "turns": turns}

    def to_json(self) -> dict[str, Any]:
        return {
            "schema": SCHEMA,
            **self.summary(),
            "created": self.created,
            "turns": [turn.to_json() for turn in self.turns],
            "meta": {"id": self.meta_id, "turns": self.meta_turns},
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Record:
        meta = data.get("meta") or {}
        return cls(
            id=str(data["id"]),
            title=str(data.get("title") or ""),
            door=str(data.get("door") or "account"),
            model=data.get("model"),
            created=str(data.get("created") or data["updated"]),
            updated=str(data["updated"]),
            turns=[Turn.from_json(t) for t in data.get("turns") or []],
            meta_id=meta.get("id"),
            meta_turns=int(meta.get("turns") or 0),
        )


def cap(text: str, limit: int = MAX_TURN_CHARS) -> str:
    if len(text) <= limit:
        return text
    return text[:limit] + f"\n[... {len(text) - limit} more characters were not kept ...]"


def title_of(question: str) -> str:
    line = next((line for line in question.splitlines() if line.strip()), "")
    line = " ".join(line.split())
    return line if len(line) <= MAX_TITLE_CHARS else line[: MAX_TITLE_CHARS - 1] + "…"


def now() -> str:
    """UTC, to the microsecond, in one format: the strings sort as the times do."""
    moment = datetime.datetime.now(datetime.timezone.utc)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def state_folder() -> Path:
    """``$XDG_STATE_HOME/metaai-ls`` (read at call time), else ``~/.local/state/metaai-ls``."""
    base = os.environ.get("XDG_STATE_HOME") or os.path.join(Path.home(), ".local", "state")
    return Path(base) / "metaai-ls"


def valid_id(value: object) -> bool:
    return isinstance(value, str) and bool(ID_PATTERN.match(value))


class History:
    """The shared history in ``folder`` (default: :func:`state_folder` when first used).

    Every method is blocking file I/O: the server calls them through a thread."""

    def __init__(self, folder: Path | None = None) -> None:
        self._folder = folder

    @property
    def folder(self) -> Path:
        return self._folder or state_folder()

    # -- reading (no lock: files are replaced whole)

    def list(self) -> list[dict[str, Any]]:
        """Summaries, newest first."""
        entries = self._read_index()
        if entries is None:
            with self._locked():
                entries = self._reconciled_index()
        return sorted(entries.values(), key=lambda e: (e["updated"], e["id"]), reverse=True)

    def get(self, conversation_id: str) -> Record | None:
        if not valid_id(conversation_id):
            return None
        return self._read_record(conversation_id)

    def latest(self) -> Record | None:
        for entry in self.list():
            record = self.get(entry["id"])
            if record is not None:
                return record
        return None

    # -- writing (under the lock)

    def add_turns(
        self,
        conversation_id: str | None,
        turns: Sequence[Turn],
        door: str,
        model: str | None,
        meta_id: str | None = None,
        meta_turns: int | None = None,
    ) -> Record:
        """Append ``turns`` to a conversation (a new one when ``conversation_id`` is None
        or no longer exists) and return it as stored."""
        with self._locked():
            record = self.get(conversation_id) if conversation_id else None
            stamp = now()
            if record is None:
                new_id = conversation_id if valid_id(conversation_id) else uuid.uuid4().hex
                first = next((t.text for t in turns if t.role == "user"), "")
                record = Record(new_id, title_of(first), door, model, stamp, stamp)
            record.turns += [turn.capped() for turn in turns]
            _drop_oldest_turns(record)
            record.door, record.model, record.updated = door, model, stamp
            if meta_id is not None:
                record.meta_id = meta_id
            if meta_turns is not None:
                record.meta_turns = meta_turns
            self._write_json(self._record_path(record.id), record.to_json())
            entries = self._reconciled_index()
            entries[record.id] = record.summary()
            self._drop_oldest(entries)
            self._write_json(self.folder / "index.json", {"schema": SCHEMA, "entries": entries})
            return record

    def forget(self, conversation_id: str) -> bool:
        if not valid_id(conversation_id):
            return False
        with self._locked():
            entries = self._reconciled_index()
            path = self._record_path(conversation_id)
            existed = path.exists()
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
            entries.pop(conversation_id, None)
            self._write_json(self.folder / "index.json", {"schema": SCHEMA, "entries": entries})
            return existed

    def forget_all(self) -> int:
        with self._locked():
            entries = self._reconciled_index()
            for conversation_id in entries:
                with contextlib.suppress(FileNotFoundError):
                    self._record_path(conversation_id).unlink()
            self._write_json(self.folder / "index.json", {"schema": SCHEMA, "entries": {}})
            return len(entries)

    # -- the files

    def _record_path(self, conversation_id: str) -> Path:
        return self.folder / "conversations" / f"{conversation_id}.json"

    def _read_record(self, conversation_id: str) -> Record | None:
        try:
            data = json.loads(self._record_path(conversation_id).read_text("utf-8"))
            return Record.from_json(data)
        except FileNotFoundError:
            return None
        except (OSError, ValueError, KeyError, TypeError) as error:
            logger.warning("conversation %s is unreadable (%s): skipped", conversation_id, error)
            return None

    def _read_index(self) -> dict[str, dict[str, Any]] | None:
        try:
            data = json.loads((self.folder / "index.json").read_text("utf-8"))
            entries = data["entries"]
            if isinstance(entries, dict) and all(isinstance(e, dict) for e in entries.values()):
                return entries
        except FileNotFoundError:
            return {} if not (self.folder / "conversations").exists() else None
        except (OSError, ValueError, KeyError, TypeError):
            pass
        return None

    def _reconciled_index(self) -> dict[str, dict[str, Any]]:
        """The index made to agree with the conversation files (a process that died
        between writing both, or a damaged index, leaves them apart). Under the lock."""
        entries = self._read_index() or {}
        folder = self.folder / "conversations"
        try:
            present = {p.stem for p in folder.iterdir() if p.suffix == ".json"}
        except FileNotFoundError:
            present = set()
        entries = {k: v for k, v in entries.items() if k in present}
        for conversation_id in present - entries.keys():
            record = self._read_record(conversation_id)
            if record is not None:
                entries[conversation_id] = record.summary()
        return entries

    def _drop_oldest(self, entries: dict[str, dict[str, Any]]) -> None:
        ordered = sorted(entries.values(), key=lambda e: (e["updated"], e["id"]))
        for entry in ordered[: max(0, len(entries) - MAX_CONVERSATIONS)]:
            with contextlib.suppress(FileNotFoundError):
                self._record_path(entry["id"]).unlink()
            del entries[entry["id"]]

    def _write_json(self, path: Path, data: Any) -> None:
        """Write to a private temporary file beside ``path``, then rename it over."""
        _private_folder(path.parent)
        temporary = path.with_name(f".{path.name}.{os.getpid()}.{uuid.uuid4().hex[:8]}")
        descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            with os.fdopen(descriptor, "w", encoding="utf-8") as file:
                json.dump(data, file, ensure_ascii=False, separators=(",", ":"))
            os.replace(temporary, path)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                temporary.unlink()
            raise

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        _private_folder(self.folder)
        descriptor = os.open(self.folder / "history.lock", os.O_RDWR | os.O_CREAT, 0o600)
        try:
            _lock(descriptor)
            yield
        finally:
            os.close(descriptor)  # closing releases the lock


def _drop_oldest_turns(record: Record) -> None:
    del record.turns[:-MAX_TURNS]
    size = sum(len(t.text) + len(t.prompt or "") for t in record.turns)
    while size > MAX_CONVERSATION_CHARS and len(record.turns) > 2:
        dropped = record.turns.pop(0)
        size -= len(dropped.text) + len(dropped.prompt or "")


def _private_folder(folder: Path) -> None:
    if not folder.is_dir():
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        folder.chmod(0o700)


def _lock(descriptor: int) -> None:
    try:
        import fcntl
    except ImportError:  # Windows: msvcrt locks a byte range instead
        import msvcrt

        msvcrt.locking(descriptor, msvcrt.LK_LOCK, 1)
        return
    fcntl.flock(descriptor, fcntl.LOCK_EX)


# -- continuing a conversation through a door (shared by the CLI and the server)

MAX_RESENT_MESSAGES = 40
MAX_RESENT_CHARS = 120_000


def earlier_messages(record: Record | None) -> list[dict[str, str]]:
    """The answered exchanges of ``record`` as messages, newest kept within the bounds."""
    if record is None:
        return []
    pairs: list[list[dict[str, str]]] = []
    turns = record.turns
    for question, answer in itertools.pairwise(turns):
        if question.role == "user" and answer.role == "assistant" and answer.answered:
            content = question.prompt if question.prompt is not None else question.text
            pairs.append(
                [
                    {"role": "user", "content": content},
                    {"role": "assistant", "content": answer.text},
                ]
            )
    kept: list[dict[str, str]] = []
    size = 0
    for pair in reversed(pairs):
        size += sum(len(m["content"]) for m in pair)
        if size > MAX_RESENT_CHARS or len(kept) + 2 > MAX_RESENT_MESSAGES:
            break
        kept[:0] = pair
    return kept


def continuation(record: Record | None, door: str) -> tuple[Any, list[dict[str, str]]]:
    """The provider's ``Conversation`` for the next turn on ``door``, and the earlier
    turns to put before the question when the door cannot continue by itself.

    The account door continues Meta's own conversation; the API door (stateless) is sent
    the kept turns; an account ask on a conversation Meta never saw gets them as text."""
    from metaai_ls.provider.conversation import Conversation

    if record is None:
        return Conversation(), []
    if door == "account":
        if record.meta_id:
            return Conversation(record.meta_id, record.meta_turns), []
        return Conversation(), earlier_messages(record)
    earlier = earlier_messages(record)
    return Conversation(turns=len(earlier) // 2, history=earlier), []


def record_exchange(
    history: History,
    conversation_id: str | None,
    question: Turn,
    answer: Turn,
    door: str,
    model: str | None,
    conversation: Any,
) -> Record:
    """Store one question and its answer (or its failure), with Meta's conversation id
    when the account door was used."""
    meta_id = conversation.id if door == "account" else None
    meta_turns = conversation.turns if door == "account" else None
    return history.add_turns(conversation_id, [question, answer], door, model, meta_id, meta_turns)
