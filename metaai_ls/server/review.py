"""Keep, discard or retry an answer written into a document."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from lsprotocol import types
from pygls.exceptions import JsonRpcInvalidParams

from .answers import WrittenAnswer
from .arguments import invalid, optional_bool
from .ask import run_ask, tell_outcome
from .documents import index_of
from .writer import FINAL_ATTEMPTS

if TYPE_CHECKING:
    from .server import MetaAILanguageServer


def find_answer(
    ls: MetaAILanguageServer, arguments: tuple[Any, ...], command: str
) -> WrittenAnswer:
    """The answer named by `{uri, id?}` (without id: the document's latest)."""
    raw = arguments[0] if len(arguments) == 1 and isinstance(arguments[0], dict) else None
    uri = raw.get("uri") if raw else None
    answer_id = raw.get("id") if raw else None
    if not isinstance(uri, str) or not (answer_id is None or type(answer_id) is int):
        raise JsonRpcInvalidParams(message=f"{command} expects one argument object {{uri, id?}}")
    answer = ls.answers.find(uri, answer_id)
    if answer is None:
        message = f"{command}: no Meta AI answer waits to be kept or discarded in {uri}"
        if gone := ls.answers.gone(uri):
            message = f"{command}: the answer is gone: {gone}"
        raise JsonRpcInvalidParams(message=message)
    return answer


def keep(ls: MetaAILanguageServer, answer: WrittenAnswer) -> dict[str, Any]:
    ls.answers.drop(answer)
    ls.refresh_code_lenses()
    return {"kept": True}


async def discard(ls: MetaAILanguageServer, answer: WrittenAnswer) -> dict[str, Any]:
    """Put the original text back where the answer is, however the document moved."""
    ls.answers.drop(answer)
    ls.refresh_code_lenses()
    writer = answer.writer
    writer.label = f"{writer.label}: discard"
    restored = await writer.write(writer.sync.original, FINAL_ATTEMPTS)
    await writer.settle()
    if not restored or writer.sync.conflict:
        message = "the answer was edited meanwhile; it was left as it is"
        ls.show(types.MessageType.Warning, f"Meta AI: {message}")
        return {"discarded": False, "error": message}
    return {"discarded": True}


def waits(arguments: tuple[Any, ...], command: str) -> bool:
    """The `"wait"` field of a `{uri, id?, wait?}` argument (default true)."""
    return optional_bool(arguments[0], "wait", True, command)


def start_retry(ls: MetaAILanguageServer, answer: WrittenAnswer) -> dict[str, Any]:
    """`"wait": false`: answered at once; the retried answer streams as any other."""

    async def run() -> None:
        tell_outcome(ls, answer.request, await retry(ls, answer, object(), None))

    ls.spawn(run(), f"metaai.retry on {answer.uri}")
    return {"started": True}


async def retry(
    ls: MetaAILanguageServer, answer: WrittenAnswer, request_id: Any, token: Any
) -> dict[str, Any]:
    """Discard the answer, then ask again with the same prompt on the same selection."""
    outcome = await discard(ls, answer)
    if not outcome["discarded"]:
        return {"text": "", "error": outcome["error"]}
    document = ls.workspace.text_documents.get(answer.uri)
    if document is None:
        raise invalid(f"{answer.uri} is not open in the editor (open it first)")
    start, end = answer.selection_now()
    selection = index_of(document, ls.position_encoding).range(start, end)
    request = answer.request.with_range(selection)
    # The new answer takes the old one's id: the lenses still shown there reach it.
    return await run_ask(ls, request, request_id, token, answer.id)
