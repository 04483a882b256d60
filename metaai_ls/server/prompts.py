"""Messages for Meta AI from a selection and its context: pure functions, no LSP I/O.

Everything sent is bounded: a huge selection or context is cut, with a note saying so.
"""

from __future__ import annotations

import dataclasses
import re

from .settings import Mode

BACKTICKS = re.compile(r"`{3,}")

MAX_SELECTION_CHARS = 24_000
MAX_CONTEXT_CHARS = 6_000  # each side
MAX_DIAGNOSTICS = 20

SYSTEM = "You are Meta AI, helping a programmer inside their code editor."
RULES: dict[str, str] = {
    "replace": (
        "Reply with the complete replacement for the selected code in exactly one fenced "
        "code block and nothing else: no explanation before or after it. Keep the "
        "surrounding code's style and indentation."
    ),
    "insert": (
        "Reply in concise plain text without Markdown headings or code fences: your reply "
        "is placed as a comment below the selection."
    ),
    "chat": "Reply in Markdown.",
}


@dataclasses.dataclass(frozen=True)
class AskContext:
    """What the server knows about the place the user asked about."""

    instruction: str
    mode: Mode
    file_name: str
    language: str
    before: str
    selection: str
    after: str
    diagnostics: tuple[str, ...] = ()


def render_template(template: str, context: AskContext) -> str:
    """Fill {selection}, {language} and {file} (other braces are left alone)."""
    return (
        template.replace("{language}", context.language)
        .replace("{file}", context.file_name)
        .replace("{selection}", _cut_end(context.selection, MAX_SELECTION_CHARS))
    )


def describe_instruction(template: str, context: AskContext) -> str:
    """The instruction as a person reads it: placeholders filled, the selection named."""
    return (
        template.replace("{language}", context.language)
        .replace("{file}", context.file_name)
        .replace("{selection}", "the selection")
    )


def build_messages(context: AskContext) -> list[dict[str, str]]:
    system = f"{SYSTEM} {RULES[context.mode]}"
    return [
        {"role": "system", "content": system},
        {"role": "user", "content": _user_content(context)},
    ]


def _user_content(context: AskContext) -> str:
    instruction = render_template(context.instruction, context)
    parts = [instruction.strip(), f"File: {context.file_name} (language: {context.language})"]
    if context.diagnostics:
        shown = context.diagnostics[:MAX_DIAGNOSTICS]
        parts.append("Problems reported in the selection:\n" + "\n".join(f"- {d}" for d in shown))
    before = _cut_start(context.before, MAX_CONTEXT_CHARS)
    selection = _cut_end(context.selection, MAX_SELECTION_CHARS)
    after = _cut_end(context.after, MAX_CONTEXT_CHARS)
    fence = fence_for(before, selection, after)
    language = context.language

    def block(title: str, code: str) -> str:
        return f"{title}:\n{fence}{language}\n{code.removesuffix(chr(10))}\n{fence}"

    if before:
        parts.append(block("Code before the selection", before))
    if "{selection}" in context.instruction:
        pass  # the instruction already holds it
    elif selection:
        parts.append(block("Selected code", selection))
    else:
        parts.append("Nothing is selected: the cursor is at the end of the code before.")
    if after:
        parts.append(block("Code after the selection", after))
    return "\n\n".join(parts)


def fence_for(*codes: str) -> str:
    """A fence longer than any backtick run in the code, so the code cannot close it."""
    runs = [len(run) for code in codes for run in BACKTICKS.findall(code)]
    return "`" * max([3, *(run + 1 for run in runs)])


def _cut_end(text: str, limit: int) -> str:
    if len(text) <= limit:
        return text
    return text[:limit] + f"\n[... {len(text) - limit} more characters were left out ...]"


def _cut_start(text: str, limit: int) -> str:
    if len(text) <= limit:
        return text
    return f"[... {len(text) - limit} earlier characters were left out ...]\n" + text[-limit:]
