"""A Meta AI conversation: pass the same one again to ask a follow-up."""

from __future__ import annotations

import dataclasses
import uuid
from typing import Any


@dataclasses.dataclass
class Conversation:
    """``id`` names the conversation on the web site (a UUID v4); ``turns`` counts the
    answers received, so that follow-ups are sent as follow-ups; ``history`` holds the
    turns for the Meta Model API, which is stateless."""

    id: str | None = None
    turns: int = 0
    history: list[dict[str, Any]] = dataclasses.field(default_factory=list)

    def start(self) -> str:
        if not self.id:
            self.id = str(uuid.uuid4())
        return self.id

    @property
    def follow_up(self) -> bool:
        return self.turns > 0
