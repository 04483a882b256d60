"""The language server's state: settings, running asks, conversations, background tasks."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine, Iterable
from typing import TYPE_CHECKING, Any

from lsprotocol import types
from pygls.lsp.server import LanguageServer
from pygls.protocol import LanguageServerProtocol

from metaai_ls import __version__

from .settings import Settings, parse_settings, section_of

if TYPE_CHECKING:
    from metaai_ls.provider import Conversation

    from .ask import Ask

logger = logging.getLogger(__name__)

PRELOAD_DELAY = 0.2  # seconds after `initialized`: start-up itself never waits for it


class MetaAIProtocol(LanguageServerProtocol):
    """pygls cancels a command's outer future on `$/cancelRequest` but not the task
    running the command; pass the cancellation on to the ask."""

    _server: MetaAILanguageServer

    def _handle_cancel_notification(self, msg_id: Any) -> None:
        super()._handle_cancel_notification(msg_id)
        self._server.asks.cancel_where(lambda ask: ask.request_id == msg_id, "request cancelled")


class Asks:
    """The asks now running."""

    def __init__(self) -> None:
        self._asks: set[Ask] = set()

    def add(self, ask: Ask) -> None:
        self._asks.add(ask)

    def discard(self, ask: Ask) -> None:
        self._asks.discard(ask)

    def on_uri(self, uri: str) -> Iterable[Ask]:
        return [ask for ask in self._asks if ask.uri == uri]

    def cancel_where(self, predicate: Callable[[Ask], bool], reason: str) -> int:
        chosen = [ask for ask in self._asks if predicate(ask)]
        for ask in chosen:
            ask.cancel(reason)
        return len(chosen)


class MetaAILanguageServer(LanguageServer):
    def __init__(self) -> None:
        super().__init__("metaai-ls", __version__, protocol_cls=MetaAIProtocol)
        self.settings = Settings()
        self.initialization_options: dict[str, Any] = {}
        self.asks = Asks()
        self.conversations: dict[tuple[str, str], Conversation] = {}
        self._tasks: set[asyncio.Task[Any]] = set()

    # -- what handlers use

    @property
    def position_encoding(self) -> str:
        return self.workspace.position_encoding or types.PositionEncodingKind.Utf16

    @property
    def can_apply_edits(self) -> bool:
        workspace = self.client_capabilities.workspace
        return bool(workspace and workspace.apply_edit)

    @property
    def supports_configuration(self) -> bool:
        workspace = self.client_capabilities.workspace
        return bool(workspace and workspace.configuration)

    def show(self, kind: types.MessageType, message: str) -> None:
        self.window_show_message(types.ShowMessageParams(type=kind, message=message))

    def log(self, kind: types.MessageType, message: str) -> None:
        self.window_log_message(types.LogMessageParams(type=kind, message=message))

    def spawn(self, coroutine: Coroutine[Any, Any, Any], name: str) -> asyncio.Task[Any]:
        """Run background work, keeping a reference and logging its failure."""
        task = asyncio.create_task(coroutine, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._task_done)
        return task

    def _task_done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and (error := task.exception()) is not None:
            logger.error("%s failed", task.get_name(), exc_info=error)
            self.log(types.MessageType.Error, f"{task.get_name()} failed: {error!r}")

    def conversation_for(self, uri: str, new: bool) -> Conversation:
        """The Meta AI conversation of a document (per backend), so follow-ups continue it."""
        from metaai_ls.provider import Conversation

        key = (uri, self.settings.backend)
        if new or key not in self.conversations:
            self.conversations[key] = Conversation()
        return self.conversations[key]

    def forget_document(self, uri: str) -> None:
        for key in [k for k in self.conversations if k[0] == uri]:
            del self.conversations[key]

    async def preload(self) -> None:
        """Import the provider once the editor is idle, so the first ask starts at once."""
        from .backend import import_heavy_modules

        await asyncio.sleep(PRELOAD_DELAY)
        await asyncio.to_thread(import_heavy_modules)

    # -- configuration

    def apply_settings(self, *sections: Any) -> None:
        """Merge the sections (later ones win) and warn about values not used."""
        merged: dict[str, Any] = {}
        for section in sections:
            # Editors send an unset string setting as "" (VS Code's pulled configuration).
            merged.update({k: v for k, v in section_of(section).items() if v not in (None, "")})
        self.settings, warnings = parse_settings(merged)
        for warning in warnings:
            self.show(types.MessageType.Warning, warning)

    async def pull_configuration(self) -> None:
        if not self.supports_configuration:
            self.apply_settings(self.initialization_options)
            return
        items = [types.ConfigurationItem(section="metaai")]
        result = await self.workspace_configuration_async(types.ConfigurationParams(items=items))
        self.apply_settings(self.initialization_options, (result or [None])[0])
