"""All LSP wiring in one place: each handler gets the document, calls plain logic,
converts, returns."""

from __future__ import annotations

from typing import Any

from lsprotocol import types

from metaai_ls.history import valid_id

from . import backend, chat, learning, review
from .actions import (
    ASK_COMMAND,
    CANCEL_COMMAND,
    DISCARD_COMMAND,
    DOCTOR_COMMAND,
    KEEP_COMMAND,
    RETRY_COMMAND,
    WARMUP_COMMAND,
    code_actions,
)
from .answers import code_lenses
from .apply import APPLY_COMMAND, apply_code
from .arguments import parse_ask_arguments
from .ask import CLOSED, REOPENED, run_ask, start_ask
from .documents import index_of
from .server import MetaAILanguageServer
from .text import follow_client

CODE_ACTION_KINDS = [
    types.CodeActionKind.QuickFix,
    types.CodeActionKind.Refactor,
    types.CodeActionKind.RefactorRewrite,
]


def create_server() -> MetaAILanguageServer:
    server = MetaAILanguageServer()
    server.feature(types.INITIALIZE)(initialize)
    server.feature(types.INITIALIZED)(initialized)
    server.feature(types.WORKSPACE_DID_CHANGE_CONFIGURATION)(did_change_configuration)
    server.feature(types.TEXT_DOCUMENT_DID_CHANGE)(did_change)
    server.feature(types.TEXT_DOCUMENT_DID_OPEN)(did_open)
    server.feature(types.TEXT_DOCUMENT_DID_CLOSE)(did_close)
    server.feature(
        types.TEXT_DOCUMENT_CODE_ACTION,
        types.CodeActionOptions(code_action_kinds=CODE_ACTION_KINDS, resolve_provider=False),
    )(code_action)
    server.feature(types.TEXT_DOCUMENT_CODE_LENS, types.CodeLensOptions())(code_lens)
    server.feature(types.WINDOW_WORK_DONE_PROGRESS_CANCEL)(progress_cancelled)
    server.command(ASK_COMMAND)(ask)
    server.command(CANCEL_COMMAND)(cancel)
    server.command(DOCTOR_COMMAND)(doctor)
    server.command(learning.LEARN_COMMAND)(learn)
    server.command(WARMUP_COMMAND)(warmup)
    server.command(KEEP_COMMAND)(keep)
    server.command(DISCARD_COMMAND)(discard)
    server.command(RETRY_COMMAND)(retry)
    server.command(chat.CHAT_COMMAND)(chat_message)
    server.command(chat.CONVERSATIONS_COMMAND)(conversations)
    server.command(chat.CONVERSATION_COMMAND)(conversation)
    server.command(chat.FORGET_COMMAND)(forget)
    server.command(APPLY_COMMAND)(apply)
    return server


def initialize(ls: MetaAILanguageServer, params: types.InitializeParams) -> None:
    follow_client(params.client_info.name if params.client_info else None)
    ls.initialization_options = params.initialization_options or {}
    ls.apply_settings(ls.initialization_options)


def initialized(ls: MetaAILanguageServer, params: types.InitializedParams) -> None:
    if ls.supports_configuration:
        ls.spawn(ls.pull_configuration(), "reading the metaai configuration")
    ls.spawn(ls.preload(), "preloading the provider")


def did_change_configuration(
    ls: MetaAILanguageServer, params: types.DidChangeConfigurationParams
) -> None:
    settings = params.settings
    if isinstance(settings, dict) and isinstance(settings.get("metaai"), dict):
        ls.apply_settings(ls.initialization_options, settings)
    else:
        ls.spawn(ls.pull_configuration(), "reading the metaai configuration")


def did_change(ls: MetaAILanguageServer, params: types.DidChangeTextDocumentParams) -> None:
    uri = params.text_document.uri
    document = ls.workspace.text_documents.get(uri)
    for running in ls.asks.on_uri(uri):
        running.observe(params, document)
    for writer in ls.asks.writers_on(uri):
        writer.observe(params, document)
    if ls.answers.observe(params, document):
        ls.refresh_code_lenses()  # an edit inside an answer keeps it


def did_open(ls: MetaAILanguageServer, params: types.DidOpenTextDocumentParams) -> None:
    # Open already (reloaded from disk): nothing is written at the old text's offsets.
    ls.end_writing(params.text_document.uri, REOPENED)


def did_close(ls: MetaAILanguageServer, params: types.DidCloseTextDocumentParams) -> None:
    uri = params.text_document.uri
    ls.end_writing(uri, CLOSED)
    ls.forget_document(uri)


def code_action(
    ls: MetaAILanguageServer, params: types.CodeActionParams
) -> list[types.CodeAction] | None:
    if params.text_document.uri not in ls.workspace.text_documents:
        return None
    only = [str(kind) for kind in params.context.only] if params.context.only else None
    uri = params.text_document.uri
    ls.remember_diagnostics(uri, params.context.diagnostics)  # for #diagnostics in a chat
    if params.range.start != params.range.end:  # about to ask: warm the gateway up
        backend.warm_up(ls, ls.conversations.get((uri, ls.settings.backend)))
    return code_actions(uri, params.range, params.context.diagnostics, ls.settings, only) or None


def code_lens(ls: MetaAILanguageServer, params: types.CodeLensParams) -> list[types.CodeLens]:
    uri = params.text_document.uri
    answers = ls.answers.on_uri(uri)
    if not answers:
        return []
    document = ls.workspace.get_text_document(uri)
    return code_lenses(answers, index_of(document, ls.position_encoding))


def progress_cancelled(
    ls: MetaAILanguageServer, params: types.WorkDoneProgressCancelParams
) -> None:
    ls.asks.cancel_where(lambda a: a.progress.token == params.token, "cancelled in the editor")


async def ask(ls: MetaAILanguageServer, *arguments: Any) -> dict[str, Any]:
    request = parse_ask_arguments(arguments)
    if not request.wait:
        return start_ask(ls, request)
    return await run_ask(ls, request, ls.protocol.msg_id, ls.command_work_done_token)


def cancel(ls: MetaAILanguageServer, *arguments: Any) -> dict[str, int]:
    """Cancel every running ask, or those on the document given as {"uri": ...}."""
    uri = arguments[0].get("uri") if arguments and isinstance(arguments[0], dict) else None
    count = ls.asks.cancel_where(lambda a: uri is None or a.uri == uri, "metaai.cancel")
    return {"cancelled": count}


def warmup(ls: MetaAILanguageServer, *arguments: Any) -> dict[str, Any]:
    """{conversation?}: make the next ask on it (none: a new one) only send its message;
    answered at once (a chat view calls it when it opens)."""
    given = (
        arguments[0].get("conversation") if arguments and isinstance(arguments[0], dict) else None
    )
    conversation = ls.find_conversation(given) if isinstance(given, str) else None
    if given is None or conversation is not None:
        backend.warm_up(ls, conversation)
    elif valid_id(given):  # a conversation of the history (a chat view's)
        ls.spawn(chat.warm_up(ls, given), "warming up a conversation")
    return {}


async def doctor(ls: MetaAILanguageServer, *arguments: Any) -> dict[str, Any]:
    """The setup checked step by step (`metaai-ls doctor`); {"send": true} also asks."""
    send = bool(arguments and isinstance(arguments[0], dict) and arguments[0].get("send") is True)
    return await backend.doctor(ls.settings, send)


async def learn(ls: MetaAILanguageServer, *arguments: Any) -> dict[str, Any]:
    """{file, question?} or {forget: true}: `metaai-ls learn` → {ok, report}."""
    return await learning.learn(arguments)


def keep(ls: MetaAILanguageServer, *arguments: Any) -> dict[str, Any]:
    """Keep the written answer of {"uri", "id"?} (its lenses go)."""
    return review.keep(ls, review.find_answer(ls, arguments, KEEP_COMMAND))


async def discard(ls: MetaAILanguageServer, *arguments: Any) -> dict[str, Any]:
    """Put the original text back in place of the written answer of {"uri", "id"?}."""
    return await review.discard(ls, review.find_answer(ls, arguments, DISCARD_COMMAND))


async def retry(ls: MetaAILanguageServer, *arguments: Any) -> dict[str, Any]:
    """Discard the written answer of {"uri", "id"?, "wait"?} and ask again with its prompt."""
    answer = review.find_answer(ls, arguments, RETRY_COMMAND)
    if not review.waits(arguments, RETRY_COMMAND):
        return review.start_retry(ls, answer)
    return await review.retry(ls, answer, ls.protocol.msg_id, ls.command_work_done_token)


async def chat_message(ls: MetaAILanguageServer, *arguments: Any) -> dict[str, Any]:
    """{message, conversation?, uri?, range?, references?} → {conversation, text}."""
    request = chat.parse_chat_arguments(arguments)
    return await chat.run_chat(ls, request, ls.protocol.msg_id, ls.command_work_done_token)


async def conversations(ls: MetaAILanguageServer, *arguments: Any) -> list[dict[str, Any]]:
    """[{id, title, updated, turns}], newest first."""
    return await chat.list_conversations(ls)


async def conversation(ls: MetaAILanguageServer, *arguments: Any) -> dict[str, Any]:
    """{id} → {id, title, turns: [{role, text}]}."""
    return await chat.show_conversation(ls, arguments)


async def forget(ls: MetaAILanguageServer, *arguments: Any) -> dict[str, Any]:
    """{id} or {all: true} → {forgotten: count}."""
    return await chat.forget(ls, arguments)


async def apply(ls: MetaAILanguageServer, *arguments: Any) -> dict[str, Any]:
    """{uri, range, text}: the range replaced through one versioned, labelled edit."""
    return await apply_code(ls, arguments)
