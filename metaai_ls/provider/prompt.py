"""Messages in, one prompt text out, as g4f's ``format_prompt`` does it."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, TypedDict


class Message(TypedDict):
    role: str
    content: Any


Messages = Sequence[Message]


def _content_text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):  # OpenAI-style parts: keep the text parts
        return "".join(
            part.get("text", "") if isinstance(part, dict) else str(part) for part in content
        )
    return "" if content is None else str(content)


def format_prompt(messages: Messages) -> str:
    """A single message passes through as its text; a conversation keeps its roles."""
    if len(messages) == 1:
        return _content_text(messages[0]["content"])
    lines = [
        f"{message['role'].capitalize()}: {_content_text(message['content'])}"
        for message in messages
    ]
    return "\n".join(lines) + "\nAssistant:"
