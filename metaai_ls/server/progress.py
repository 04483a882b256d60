"""`$/progress` for one ask: begin, reports whose messages join to the answer, end."""

from __future__ import annotations

import logging
import uuid
from typing import TYPE_CHECKING

from lsprotocol import types

if TYPE_CHECKING:
    from .server import MetaAILanguageServer

logger = logging.getLogger(__name__)

ProgressToken = int | str


class Progress:
    """`$/progress` for one ask: on the client's own token when the command carried one,
    else on a token created for clients that declared the capability."""

    def __init__(self, ls: MetaAILanguageServer, client_token: ProgressToken | None = None) -> None:
        self.ls = ls
        self.client_token = client_token  # the command's workDoneToken: the client shows it
        self.token: ProgressToken | None = None
        self.reported = 0

    async def begin(self, message: str) -> None:
        if self.client_token is not None:
            self.token = self.client_token
        else:
            await self._create()
        if self.token is not None:
            begin = types.WorkDoneProgressBegin(title="Meta AI", cancellable=True, message=message)
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
        """Report the answer's new text since the last report."""
        if self.token is None or len(answer) <= self.reported:
            return
        delta = answer[self.reported :]
        self.reported = len(answer)
        self.ls.work_done_progress.report(self.token, types.WorkDoneProgressReport(message=delta))

    def end(self, message: str) -> None:
        if self.token is None:
            return
        self.ls.work_done_progress.end(self.token, types.WorkDoneProgressEnd(message=message))
        self.ls.work_done_progress.tokens.pop(self.token, None)
