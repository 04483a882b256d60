"""The `metaai.ask` argument object, checked field by field: bad input is InvalidParams."""

from __future__ import annotations

import dataclasses
import functools
from typing import Any

from lsprotocol import types
from pygls.exceptions import JsonRpcInvalidParams
from pygls.protocol import default_converter

from .settings import MODES, Mode


@dataclasses.dataclass(frozen=True)
class AskRequest:
    uri: str
    range: types.Range | None
    prompt: str
    mode: Mode
    diagnostics: tuple[str, ...] = ()
    new_conversation: bool = False
    title: str | None = None  # the action's name, for the progress title
    wait: bool = True  # False: answered at once with {"started": true}

    def with_range(self, range_: types.Range) -> AskRequest:
        return dataclasses.replace(self, range=range_, new_conversation=False)


def invalid(message: str, command: str = "metaai.ask") -> JsonRpcInvalidParams:
    return JsonRpcInvalidParams(message=f"{command}: {message}")


def optional_bool(raw: dict[str, Any], name: str, default: bool, command: str) -> bool:
    value = raw.get(name, default)
    if value is None:
        # lsp-mode reads a JSON false as nil and sends it back as null (emacs-lsp/lsp-mode
        # #4184): the `"wait": false` of a code action's command comes back as null.
        return False
    if not isinstance(value, bool):
        raise invalid(f"`{name}` must be true or false", command)
    return value


def parse_ask_arguments(arguments: tuple[Any, ...]) -> AskRequest:
    """The command's one argument object, checked field by field."""
    if len(arguments) != 1 or not isinstance(arguments[0], dict):
        raise invalid("expects one argument object {uri, range, prompt, mode}")
    raw = arguments[0]
    uri, prompt, mode = raw.get("uri"), raw.get("prompt"), raw.get("mode", "chat")
    if not isinstance(uri, str) or not uri:
        raise invalid("`uri` must be the document's URI")
    if not isinstance(prompt, str) or not prompt.strip():
        raise invalid("`prompt` must be a non-empty string")
    if mode not in MODES:
        raise invalid(f"`mode` must be one of {', '.join(MODES)}")
    new_conversation = optional_bool(raw, "newConversation", False, "metaai.ask")
    wait = optional_bool(raw, "wait", True, "metaai.ask")
    title = raw.get("title")
    if title is not None and not (isinstance(title, str) and title.strip()):
        raise invalid("`title` must be a non-empty string (the action's name)")
    diagnostics = raw.get("diagnostics") or []
    if not isinstance(diagnostics, list) or not all(isinstance(d, str) for d in diagnostics):
        raise invalid("`diagnostics` must be a list of strings")
    return AskRequest(
        uri=uri,
        range=parse_range(raw.get("range")),
        prompt=prompt,
        mode=mode,
        diagnostics=tuple(diagnostics),
        new_conversation=new_conversation,
        title=title,
        wait=wait,
    )


@functools.cache
def _range_converter() -> Any:
    return default_converter()  # built on first use: it costs ~20 ms at start-up


def _whole_numbers(value: Any) -> bool:
    """Whether every position field is an int (the converter would take 1.5 as 1)."""
    try:
        fields = [value[end][key] for end in ("start", "end") for key in ("line", "character")]
    except (TypeError, KeyError):
        return True  # the converter reports the shape
    return all(type(field) is int for field in fields)


def parse_range(value: Any, command: str = "metaai.ask") -> types.Range | None:
    if value is None:
        return None
    if not _whole_numbers(value):
        raise invalid("`range` positions must be whole numbers", command)
    try:
        range_ = _range_converter().structure(value, types.Range)
    except Exception:
        message = "`range` must be an LSP range {start: {line, character}, end: ...}"
        raise invalid(message, command) from None
    if (range_.end.line, range_.end.character) < (range_.start.line, range_.start.character):
        raise invalid("`range` ends before it starts", command)
    return range_
