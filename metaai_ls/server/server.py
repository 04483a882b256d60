"""The language server's state: settings, running asks, conversations, background tasks."""

from __future__ import annotations

import asyncio
import contextvars
import dataclasses
import logging
from collections.abc import Callable, Coroutine, Iterable
from typing import TYPE_CHECKING, Any

from lsprotocol import types
from pygls.exceptions import (
    JsonRpcException,
    JsonRpcInvalidRequest,
    JsonRpcServerNotInitialized,
)
from pygls.lsp.server import LanguageServer
from pygls.protocol import LanguageServerProtocol, lsp_method
from pygls.workspace import Workspace

from metaai_ls import __version__
from metaai_ls.history import History
from metaai_ls.redact import redact, remember_url_password

from .answers import WrittenAnswers
from .documents import LspWorkspace
from .settings import Settings, parse_settings, section_of
from .stdio import TOO_LARGE

if TYPE_CHECKING:
    from metaai_ls.provider import Conversation

    from .ask import Ask
    from .writer import DocumentWriter

logger = logging.getLogger(__name__)

MAX_DIAGNOSTICS_KEPT = 100  # per document
SHUTDOWN_WAIT = 5.0  # seconds the asks get to put their regions back at shutdown
PRELOAD_DELAY = 0.2  # seconds after `initialized`: start-up itself never waits for it


# The `workspace/executeCommand` params of the command now running (pygls hands a
# command its arguments only; the client's workDoneToken is in the params).
COMMAND_PARAMS: contextvars.ContextVar[types.ExecuteCommandParams | None] = contextvars.ContextVar(
    "metaai_command_params", default=None
)

# Requests a client may send before `initialize` has been answered.
BEFORE_INITIALIZE = {types.INITIALIZE, types.SHUTDOWN, types.EXIT}


class MetaAIProtocol(LanguageServerProtocol):
    """Where pygls 2.1.1 falls short of a server that runs all day:

    - `$/cancelRequest` cancels a command's outer future but not the task running the
      command: the cancellation is passed on to the ask;
    - its documents split lines where LSP does not (see documents.py);
    - every generator handler (didChange, executeCommand, ...) leaves an entry in the
      request-future map, with its result, for ever: it is dropped when done;
    - requests before `initialize` are served: they get ServerNotInitialized;
    - a request whose params do not parse gets no answer at all: it gets InvalidParams.
    """

    _server: MetaAILanguageServer
    _initialize_seen = False
    _lsp_workspace: LspWorkspace | None = None

    @property  # type: ignore[override]
    def _workspace(self) -> LspWorkspace | None:
        return self._lsp_workspace

    @_workspace.setter
    def _workspace(self, workspace: Workspace | None) -> None:
        # pygls makes its Workspace in `initialize`: it holds LspDocuments from the start
        # (a subclass that only changes which document class it makes).
        if workspace is not None and not isinstance(workspace, LspWorkspace):
            workspace.__class__ = LspWorkspace
        self._lsp_workspace = workspace  # type: ignore[assignment]

    @lsp_method(types.SHUTDOWN)
    async def lsp_shutdown(self, *args: Any) -> None:
        """Every ask ends first, its region back to the original text; then the answer.
        (pygls's own iterates the request futures while their done-callbacks delete
        from them: "dictionary changed size during iteration".) Nothing is sent after."""
        current = self.msg_id
        self._server.shutting_down = True
        await self._server.end_all_asks("the editor is shutting down")
        for msg_id, future in list(self._request_futures.items()):
            if msg_id != current and not future.done():
                future.cancel()
        self._shutdown = True

    def _send_data(self, data: Any) -> None:
        if self._shutdown and hasattr(data, "method"):
            logger.debug("not sent after shutdown: %s", data.method)
            return
        super()._send_data(data)

    def _handle_cancel_notification(self, msg_id: Any) -> None:
        super()._handle_cancel_notification(msg_id)
        self._server.asks.cancel_where(lambda ask: ask.request_id == msg_id, "request cancelled")

    def _execute_handler(
        self,
        msg_id: Any,
        handler: Any,
        callback: Any,
        args: tuple[Any, ...] | None = None,
        kwargs: dict[str, Any] | None = None,
    ) -> None:
        super()._execute_handler(msg_id, handler, callback, args, kwargs)
        future = self._request_futures.get(msg_id)
        if future is not None:
            future.add_done_callback(lambda done: self._forget_future(msg_id, done))

    def _forget_future(self, msg_id: Any, future: Any) -> None:
        if self._request_futures.get(msg_id) is future:
            del self._request_futures[msg_id]

    def _handle_request(self, msg_id: Any, method_name: str, params: Any) -> None:
        if method_name == types.INITIALIZE:
            self._initialize_seen = True
        elif not self._initialize_seen and method_name not in BEFORE_INITIALIZE:
            error = JsonRpcServerNotInitialized(f"{method_name} before initialize")
            self._send_response(msg_id, None, error.to_response_error())
            return
        if method_name == TOO_LARGE:
            error = JsonRpcInvalidRequest("the message was larger than METAAI_MAX_MESSAGE_MB")
            self._send_response(msg_id, None, error.to_response_error())
            return
        if method_name == types.WORKSPACE_EXECUTE_COMMAND:
            COMMAND_PARAMS.set(params)
        super()._handle_request(msg_id, method_name, params)

    def _handle_notification(self, method_name: str, params: Any) -> None:
        if self._initialize_seen or method_name in BEFORE_INITIALIZE:
            super()._handle_notification(method_name, params)
        else:
            logger.warning("dropped the notification %s sent before initialize", method_name)

    def structure_message(self, data: dict[str, Any]) -> Any:
        try:
            return super().structure_message(data)
        except JsonRpcException as error:
            if "id" in data and "method" in data:
                return _Unparsable(data["id"], data["method"], error)
            raise

    def handle_message(self, message: Any) -> None:
        if isinstance(message, _Unparsable):
            if not self._initialize_seen and message.method not in BEFORE_INITIALIZE:
                self._handle_request(message.id, message.method, None)  # not initialized
                return
            logger.warning("the params of %s %s do not parse", message.method, message.id)
            self._send_response(message.id, None, message.error.to_response_error())
            return
        super().handle_message(message)


@dataclasses.dataclass
class _Unparsable:
    id: Any
    method: str
    error: JsonRpcException


class Asks:
    """The asks now running, and the other edits being written (metaai.applyCode)."""

    def __init__(self) -> None:
        self._asks: set[Ask] = set()
        self._writers: set[DocumentWriter] = set()

    def add(self, ask: Ask) -> None:
        self._asks.add(ask)

    def discard(self, ask: Ask) -> None:
        self._asks.discard(ask)

    def add_writer(self, writer: DocumentWriter) -> None:
        self._writers.add(writer)

    def discard_writer(self, writer: DocumentWriter) -> None:
        self._writers.discard(writer)

    def all(self) -> list[Ask]:
        return list(self._asks)

    def on_uri(self, uri: str) -> Iterable[Ask]:
        return [ask for ask in self._asks if ask.uri == uri]

    def writers_on(self, uri: str) -> Iterable[DocumentWriter]:
        return [writer for writer in self._writers if writer.uri == uri]

    def writing_over(self, uri: str, start: int, end: int) -> bool:
        """Whether something is being written where ``[start, end]`` is (touching counts)."""
        return any(ask.overlaps(start, end) for ask in self.on_uri(uri)) or any(
            writer.sync.overlaps(start, end) for writer in self.writers_on(uri)
        )

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
        self.answers = WrittenAnswers()
        self.conversations: dict[tuple[str, str], Conversation] = {}
        self.history = History()  # the conversations shared with the CLI and other editors
        self.chatting: set[str | None] = set()  # conversations answering now
        self.diagnostics_seen: dict[str, tuple[str, ...]] = {}  # from code action requests
        self._tasks: set[asyncio.Task[Any]] = set()
        self.shutting_down = False  # `shutdown` came: the asks are ending

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
        self.window_show_message(types.ShowMessageParams(type=kind, message=redact(message)))

    def log(self, kind: types.MessageType, message: str) -> None:
        self.window_log_message(types.LogMessageParams(type=kind, message=redact(message)))

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

    def find_conversation(self, conversation_id: str) -> Conversation | None:
        """The Meta AI conversation of that id the server holds (`metaai.warmup`)."""
        found = (c for c in self.conversations.values() if c.id == conversation_id)
        return next(found, None)

    @property
    def command_work_done_token(self) -> Any:
        """The client's workDoneToken of the command now running, if it sent one."""
        params = COMMAND_PARAMS.get()
        return params.work_done_token if params is not None else None

    def refresh_code_lenses(self) -> None:
        workspace = self.client_capabilities.workspace
        if workspace and workspace.code_lens and workspace.code_lens.refresh_support:
            self.spawn(self._refresh_code_lenses(), "refreshing code lenses")

    async def _refresh_code_lenses(self) -> None:
        try:
            await self.workspace_code_lens_refresh_async(None)
        except Exception as error:  # the lenses are asked for again on the next change
            logger.debug("workspace/codeLens/refresh failed: %s", error)

    def remember_diagnostics(self, uri: str, diagnostics: Iterable[types.Diagnostic]) -> None:
        """The latest diagnostics a code action request carried (what #diagnostics means
        when the client sends none with the reference)."""
        from .references import describe_diagnostic

        described = tuple(describe_diagnostic(d) for d in diagnostics)[:MAX_DIAGNOSTICS_KEPT]
        if described or uri in self.diagnostics_seen:
            self.diagnostics_seen[uri] = described

    def end_writing(self, uri: str, reason: str) -> None:
        """The document was closed or got a new text: what is written there, and the
        written answers' Keep · Discard · Retry, end (their offsets mean nothing now)."""
        for running in [*self.asks.on_uri(uri), *self.asks.writers_on(uri)]:
            running.closed(reason)
        if self.answers.forget_document(uri, reason):
            self.refresh_code_lenses()

    async def end_all_asks(self, reason: str) -> None:
        running = self.asks.all()
        for ask in running:
            ask.cancel(reason)
        if running:
            waits = [asyncio.ensure_future(ask.ended.wait()) for ask in running]
            _, late = await asyncio.wait(waits, timeout=SHUTDOWN_WAIT)
            for wait in late:
                wait.cancel()

    def forget_document(self, uri: str) -> None:
        for key in [k for k in self.conversations if k[0] == uri]:
            del self.conversations[key]
        self.diagnostics_seen.pop(uri, None)

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
        remember_url_password(self.settings.proxy)  # a secret as soon as it is known
        for warning in warnings:
            self.show(types.MessageType.Warning, warning)

    async def pull_configuration(self) -> None:
        if not self.supports_configuration:
            self.apply_settings(self.initialization_options)
            return
        items = [types.ConfigurationItem(section="metaai")]
        result = await self.workspace_configuration_async(types.ConfigurationParams(items=items))
        self.apply_settings(self.initialization_options, (result or [None])[0])
