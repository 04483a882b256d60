"""`metaai.chat` and the history commands: a conversation kept in the shared history
(metaai_ls.history), streamed exactly as `metaai.ask` streams (the same Ask)."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

from lsprotocol import types
from pygls.exceptions import JsonRpcInternalError

from metaai_ls import history
from metaai_ls.history import Record, Turn

from . import backend, references
from .arguments import AskRequest, invalid, parse_range
from .ask import Ask, short
from .progress import Progress
from .prompts import RULES, SYSTEM

if TYPE_CHECKING:
    from .server import MetaAILanguageServer

CHAT_COMMAND = "metaai.chat"
CONVERSATIONS_COMMAND = "metaai.conversations"
CONVERSATION_COMMAND = "metaai.conversation"
FORGET_COMMAND = "metaai.forget"
MAX_MESSAGE_CHARS = 100_000
T = TypeVar("T")


@dataclasses.dataclass(frozen=True)
class ChatRequest:
    message: str
    conversation: str | None
    uri: str | None
    range: types.Range | None
    references: tuple[references.Reference, ...]


def parse_chat_arguments(arguments: tuple[Any, ...]) -> ChatRequest:
    raw = _one_object(
        arguments, CHAT_COMMAND, "{message, conversation?, uri?, range?, references?}"
    )
    message, conversation, uri = raw.get("message"), raw.get("conversation"), raw.get("uri")
    if not isinstance(message, str) or not message.strip():
        raise invalid("`message` must be a non-empty string", CHAT_COMMAND)
    if len(message) > MAX_MESSAGE_CHARS:
        raise invalid(f"`message` is longer than {MAX_MESSAGE_CHARS:,} characters", CHAT_COMMAND)
    if conversation is not None and not isinstance(conversation, str):
        raise invalid("`conversation` must be an id from metaai.conversations", CHAT_COMMAND)
    if uri is not None and not (isinstance(uri, str) and uri):
        raise invalid("`uri` must be the current document's URI", CHAT_COMMAND)
    range_ = parse_range(raw.get("range"), CHAT_COMMAND)
    if range_ is not None and uri is None:
        raise invalid("`range` needs the `uri` of its document", CHAT_COMMAND)
    listed = references.parse_references(raw.get("references"))
    return ChatRequest(message, conversation or None, uri, range_, tuple(listed))


def _one_object(arguments: tuple[Any, ...], command: str, shape: str) -> dict[str, Any]:
    if len(arguments) != 1 or not isinstance(arguments[0], dict):
        raise invalid(f"expects one argument object {shape}", command)
    return arguments[0]


def all_references(request: ChatRequest) -> list[references.Reference]:
    """The listed ones, a non-empty selection (`uri` + `range`), and the message's tags."""
    found = list(request.references)
    selected = request.range is not None and request.range.start != request.range.end
    if request.uri is not None and selected:
        found.append(references.Reference("file", uri=request.uri, range=request.range))
    tags = references.references_in_message(request.message, request.uri, request.range)
    # `#diagnostics` means the ones the client listed for that document, when it did (it
    # knows them; the server sees only those that came with code actions).
    listed = {r.uri for r in request.references if r.kind == "diagnostics"}
    found += [t for t in tags if not (t.kind == "diagnostics" and t.uri in listed)]
    return references.unique(found)


async def run_chat(
    ls: MetaAILanguageServer, request: ChatRequest, request_id: Any, token: Any
) -> dict[str, Any]:
    """One message of a conversation: its references read, the answer streamed like an
    ask's, the exchange stored. Bad input changes nothing (InvalidParams)."""
    record = await _existing(ls, request.conversation, CHAT_COMMAND)
    key = record.id if record else None
    if key is not None and key in ls.chatting:
        raise invalid("this conversation is still answering: wait, or cancel it", CHAT_COMMAND)
    blocks = await references.read(ls, all_references(request))
    door, model = ls.settings.backend, ls.settings.model
    conversation, earlier = history.continuation(record, door)
    content = references.prompt_with(request.message, blocks)
    messages = [{"role": "system", "content": f"{SYSTEM} {RULES['chat']}"}, *earlier]
    messages.append({"role": "user", "content": content})
    ask_request = AskRequest(
        request.uri or "", request.range, request.message, "chat", title="Chat"
    )
    progress = Progress(ls, token, ls.settings.progress_deltas)
    begin = short(request.message)
    ask = Ask(ls, ask_request, messages, None, None, request_id, progress, conversation, begin)
    if key is not None:
        ls.chatting.add(key)
    ls.asks.add(ask)
    try:
        result = await ask.run()
    finally:
        ls.asks.discard(ask)
        ls.chatting.discard(key)
    question = Turn("user", request.message, [b.name for b in blocks])
    question.prompt = content if content != request.message else None
    answer = Turn("assistant", result["text"], error=result.get("error"))
    answer.cancelled = bool(result.get("cancelled"))
    try:
        stored = await in_history(
            ls,
            history.record_exchange,
            ls.history,
            key,
            question,
            answer,
            door,
            model,
            conversation,
        )
    except JsonRpcInternalError as error:  # the answer stands; only keeping it failed
        ls.show(types.MessageType.Warning, f"Meta AI: {error.message}")
        return {"conversation": key, **result}
    return {"conversation": stored.id, **result}


async def in_history(ls: MetaAILanguageServer, function: Callable[..., T], *arguments: Any) -> T:
    """A history operation, off the event loop; a folder that cannot be used is an error
    that names it."""
    try:
        return await asyncio.to_thread(function, *arguments)
    except OSError as error:
        raise JsonRpcInternalError(
            f"the conversation history in {ls.history.folder} cannot be used "
            f"({error.strerror or error}): check that folder's permissions, or set "
            "XDG_STATE_HOME to another place"
        ) from None


async def _existing(ls: MetaAILanguageServer, conversation_id: Any, command: str) -> Record | None:
    if conversation_id is None:
        return None
    record = await in_history(ls, ls.history.get, conversation_id)
    if record is None:
        raise invalid(
            f"there is no conversation {conversation_id!r} in the history (it may have been "
            "forgotten): see metaai.conversations, or leave `conversation` out to start one",
            command,
        )
    return record


async def list_conversations(ls: MetaAILanguageServer) -> list[dict[str, Any]]:
    return await in_history(ls, ls.history.list)


async def show_conversation(ls: MetaAILanguageServer, arguments: tuple[Any, ...]) -> dict[str, Any]:
    raw = _one_object(arguments, CONVERSATION_COMMAND, "{id}")
    record = await _existing(ls, raw.get("id"), CONVERSATION_COMMAND)
    assert record is not None
    return record.view()


async def forget(ls: MetaAILanguageServer, arguments: tuple[Any, ...]) -> dict[str, Any]:
    raw = _one_object(arguments, FORGET_COMMAND, "{id} or {all: true}")
    if raw.get("all") is True:
        return {"forgotten": await in_history(ls, ls.history.forget_all)}
    if not isinstance(raw.get("id"), str):
        raise invalid("expects one argument object {id} or {all: true}", FORGET_COMMAND)
    await _existing(ls, raw["id"], FORGET_COMMAND)
    forgotten = await in_history(ls, ls.history.forget, raw["id"])
    return {"forgotten": int(forgotten)}


async def warm_up(ls: MetaAILanguageServer, conversation_id: str) -> None:
    """`metaai.warmup` for a conversation of the history: Meta's conversation it continues
    (or a new one) warmed as an ask's would be."""
    record = await in_history(ls, ls.history.get, conversation_id)
    if record is not None:
        conversation, _ = history.continuation(record, ls.settings.backend)
        backend.warm_up(ls, conversation)
