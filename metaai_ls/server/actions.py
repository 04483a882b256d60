"""Code actions: cheap to compute (no network), each carrying a `metaai.ask` command."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

from lsprotocol import types

from .settings import Mode, Settings

ASK_COMMAND = "metaai.ask"
CANCEL_COMMAND = "metaai.cancel"
DOCTOR_COMMAND = "metaai.doctor"
KEEP_COMMAND = "metaai.keep"
DISCARD_COMMAND = "metaai.discard"
RETRY_COMMAND = "metaai.retry"
WARMUP_COMMAND = "metaai.warmup"
TITLE_PREFIX = "Meta AI: "


@dataclasses.dataclass(frozen=True)
class BuiltinAction:
    id: str
    title: str
    prompt: str
    mode: Mode
    kind: str


BUILTIN_ACTIONS = (
    BuiltinAction(
        "explain",
        "Explain",
        "Explain what the selected {language} code does, briefly and precisely.",
        "insert",
        "refactor.metaai.explain",
    ),
    BuiltinAction(
        "refactor",
        "Refactor / Improve",
        "Refactor the selected {language} code to be clearer, simpler and more idiomatic "
        "without changing what it does.",
        "replace",
        types.CodeActionKind.RefactorRewrite.value + ".metaai",
    ),
    BuiltinAction(
        "document",
        "Add documentation",
        "Add documentation comments (docstrings) to the selected {language} code; change "
        "nothing else.",
        "replace",
        types.CodeActionKind.RefactorRewrite.value + ".metaai.document",
    ),
    BuiltinAction(
        "tests",
        "Write tests",
        "Write unit tests for the selected {language} code from {file}, using the test "
        "framework the project most likely uses. Give the complete test file.",
        "chat",
        "refactor.metaai.tests",
    ),
)
FIX = BuiltinAction(
    "fix",
    "Fix",
    "Fix the problems reported in the selected {language} code. Change only what is needed.",
    "replace",
    types.CodeActionKind.QuickFix.value + ".metaai",
)


def ask_arguments(
    uri: str,
    range_: types.Range,
    prompt: str,
    mode: Mode,
    diagnostics: Sequence[str] = (),
    title: str | None = None,
) -> dict[str, Any]:
    """`metaai.ask`'s argument object; with a ``title`` (a code action's), one that does
    not make the client wait for the whole answer (`"wait": false`)."""
    arguments: dict[str, Any] = {
        "uri": uri,
        "range": {
            "start": {"line": range_.start.line, "character": range_.start.character},
            "end": {"line": range_.end.line, "character": range_.end.character},
        },
        "prompt": prompt,
        "mode": mode,
    }
    if diagnostics:
        arguments["diagnostics"] = list(diagnostics)
    if title is not None:
        arguments["title"] = title
        arguments["wait"] = False
    return arguments


def describe(diagnostic: types.Diagnostic) -> str:
    where = f"line {diagnostic.range.start.line + 1}"
    source = f"{diagnostic.source}: " if diagnostic.source else ""
    return f"{where}: {source}{diagnostic.message}"


def code_actions(
    uri: str,
    range_: types.Range,
    diagnostics: Sequence[types.Diagnostic],
    settings: Settings,
    only: Sequence[str] | None = None,
) -> list[types.CodeAction]:
    """The actions for a non-empty selection (none for an empty one)."""
    if range_.start == range_.end:
        return []
    touching = [d for d in diagnostics if _overlaps(d.range, range_)]
    candidates: list[BuiltinAction] = [FIX] if touching else []
    candidates += BUILTIN_ACTIONS
    candidates += [
        BuiltinAction(a.id, a.title.removeprefix(TITLE_PREFIX), a.prompt, a.mode, a.kind)
        for a in settings.actions
    ]
    problems = [describe(d) for d in touching]
    return [
        _code_action(uri, range_, action, problems if action is FIX else (), touching)
        for action in candidates
        if _wanted(action.kind, only)
    ]


def _code_action(
    uri: str,
    range_: types.Range,
    action: BuiltinAction,
    problems: Sequence[str],
    touching: Sequence[types.Diagnostic],
) -> types.CodeAction:
    title = TITLE_PREFIX + action.title
    return types.CodeAction(
        title=title,
        kind=action.kind,
        diagnostics=list(touching) if problems else None,
        is_preferred=True if problems else None,
        command=types.Command(
            title=title,
            command=ASK_COMMAND,
            arguments=[
                ask_arguments(uri, range_, action.prompt, action.mode, problems, action.title)
            ],
        ),
    )


def _overlaps(a: types.Range, b: types.Range) -> bool:
    def key(p: types.Position) -> tuple[int, int]:
        return (p.line, p.character)

    return key(a.start) <= key(b.end) and key(b.start) <= key(a.end)


def _wanted(kind: str, only: Sequence[str] | None) -> bool:
    if not only:
        return True
    return any(kind == wanted or kind.startswith(wanted + ".") for wanted in only)
