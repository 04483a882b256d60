"""`$/progress` for one ask: begin (titled with the action's name), reports, end.

Reports carry either the answer's current last line, one line readable alone (the
default: clients that show the latest message, as the LSP specification means it), or
with ``progressDeltas`` the new text since the last report (they join to the answer)."""

from __future__ import annotations

import logging
import uuid
from typing import TYPE_CHECKING

from lsprotocol import types

if TYPE_CHECKING:
    from .server import MetaAILanguageServer

logger = logging.getLogger(__name__)

ProgressToken = int | str

LINE_LIMIT = 80  # characters of the last line a report shows


def last_line(answer: str, limit: int = LINE_LIMIT) -> str:
    """The answer's last non-blank line, on one line, its end kept when too long."""
    end = len(answer)
    while end > 0:
        start = answer.rfind("\n", 0, end) + 1
        line = " ".join(answer[start:end].split())
        if line:
            return line if len(line) <= limit else "…" + line[len(line) - limit + 1 :]
        end = start - 1
    return ""


class Progress:
    """`$/progress` for one ask: on the client's own token when the command carried one,
    else on a token created for clients that declared the capability."""

    def __init__(
        self,
        ls: MetaAILanguageServer,
        client_token: ProgressToken | None = None,
        deltas: bool = False,
    ) -> None:
        self.ls = ls
        self.client_token = client_token  # the command's workDoneToken: the client shows it
        self.deltas = deltas  # reports join to the answer (progressDeltas)
        self.token: ProgressToken | None = None
        self.reported = 0
        self.shown = ""

    async def begin(self, title: str, message: str) -> None:
        if self.client_token is not None:
            self.token = self.client_token
        else:
            await self._create()
        if self.token is not None:
            begin = types.WorkDoneProgressBegin(title=title, cancellable=True, message=message)
            self.ls.work_done_progress.begin(self.token, begin)

    async def _create(self) -> None:
        window = self.ls.client_capabilities.window
        if not (window and window.work_done_progress):
            return
        token: ProgressToken = f"metaai-{uuid.uuid4()}"
        try:
            await self.ls.work_done_progress.create_async(token)
        except Exception as error:
            logger.warning("the client refused a progress token: %s", error)
            return
        self.token = token

    def report(self, answer: str) -> None:
        """Report the answer's new text since the last report, or its last line."""
        if self.token is None or len(answer) <= self.reported:
            return
        if self.deltas:
            message = answer[self.reported :]
        else:
            message = last_line(answer)
            if not message or message == self.shown:
                return
            self.shown = message
        self.reported = len(answer)
        self.ls.work_done_progress.report(self.token, types.WorkDoneProgressReport(message=message))

    def end(self, message: str) -> None:
        if self.token is None:
            return
        self.ls.work_done_progress.end(self.token, types.WorkDoneProgressEnd(message=message))
        self.ls.work_done_progress.tokens.pop(self.token, None)
