"""The `metaai` configuration section: typed, defaulted, read field by field.

A bad value never stops the server: it yields a warning naming the setting and the
default is used in its place.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

import attrs
import cattrs

Mode = Literal["replace", "insert", "chat"]
MODES: tuple[str, ...] = ("replace", "insert", "chat")
Backend = Literal["account", "api"]
Protocol = Literal["auto", "gateway", "abra"]


@attrs.frozen
class UserAction:
    """A code action of the user's own: its prompt may use {selection}, {language}, {file}."""

    id: str
    title: str
    prompt: str
    mode: Mode = "chat"
    kind: str = "refactor"


@attrs.frozen
class Settings:
    cookies_file: str | None = None
    proxy: str | None = None
    url: str | None = None
    graph_url: str | None = None
    gateway_url: str | None = None
    protocol: Protocol | None = None  # None: METAAI_PROTOCOL, then auto
    backend: Backend = "account"
    api_url: str | None = None
    api_key_file: str | None = None
    model: str | None = None  # None: the backend's default (fast; muse-spark-1.3)
    context_lines: int = attrs.field(default=20)
    actions: tuple[UserAction, ...] = ()
    progress_deltas: bool = False  # reports join to the answer (else: its last line)
    warmup: bool = True  # open the gateway's socket ahead of an ask, on intent
    ask_timeout: float | None = attrs.field(default=None)  # None: METAAI_ASK_TIMEOUT, 900 s

    @context_lines.validator
    def _context_lines_in_range(self, attribute: Any, value: int) -> None:
        if not 0 <= value <= 1000:
            raise ValueError("must be between 0 and 1000")

    @ask_timeout.validator
    def _ask_timeout_positive(self, attribute: Any, value: float | None) -> None:
        if value is not None and not value > 0:
            raise ValueError("must be a number of seconds above 0")


attrs.resolve_types(UserAction)
attrs.resolve_types(Settings)

NAMES = {
    "cookiesFile": "cookies_file",
    "proxy": "proxy",
    "url": "url",
    "graphUrl": "graph_url",
    "gatewayUrl": "gateway_url",
    "protocol": "protocol",
    "backend": "backend",
    "apiUrl": "api_url",
    "apiKeyFile": "api_key_file",
    "model": "model",
    "contextLines": "context_lines",
    "actions": "actions",
    "progressDeltas": "progress_deltas",
    "warmup": "warmup",
    "askTimeout": "ask_timeout",
}

_converter = cattrs.Converter(forbid_extra_keys=True)


def _structure_str(value: Any, _: type) -> str:
    if not isinstance(value, str):
        raise TypeError("must be a string")
    return value


def _structure_int(value: Any, _: type) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError("must be a whole number")
    return value


def _structure_bool(value: Any, _: type) -> bool:
    if not isinstance(value, bool):
        raise TypeError("must be true or false")
    return value


def _structure_float(value: Any, _: type) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError("must be a number")
    return float(value)


_converter.register_structure_hook(str, _structure_str)
_converter.register_structure_hook(int, _structure_int)
_converter.register_structure_hook(bool, _structure_bool)
_converter.register_structure_hook(float, _structure_float)


def section_of(options: Any) -> dict[str, Any]:
    """The `metaai` section from initializationOptions or a configuration answer.

    Both ``{"metaai": {...}}`` and the section itself are accepted.
    """
    if not isinstance(options, Mapping):
        return {}
    inner = options.get("metaai")
    return dict(inner) if isinstance(inner, Mapping) else dict(options)


def parse_settings(raw: Mapping[str, Any]) -> tuple[Settings, list[str]]:
    """Settings from a camelCase mapping, and a warning for each value not used."""
    values: dict[str, Any] = {}
    warnings: list[str] = []
    defaults = Settings()
    for key, value in raw.items():
        name = NAMES.get(key)
        if name is None or value is None:
            continue
        if name == "actions":
            values[name] = _parse_actions(value, warnings)
            continue
        field = attrs.fields_dict(Settings)[name]
        try:
            candidate = _converter.structure(value, field.type)
            attrs.evolve(defaults, **{name: candidate})  # runs the validators
            values[name] = candidate
        except (TypeError, ValueError, cattrs.errors.CattrsError) as error:
            default = getattr(defaults, name)
            warnings.append(f"metaai.{key} {_reason(error)}; using the default ({default!r}).")
    return Settings(**values), warnings


def _parse_actions(value: Any, warnings: list[str]) -> tuple[UserAction, ...]:
    if not isinstance(value, list):
        warnings.append("metaai.actions must be a list of actions; using none.")
        return ()
    actions = []
    for index, item in enumerate(value):
        try:
            action = _converter.structure(item, UserAction)
            if action.mode not in MODES:
                raise ValueError(f"mode must be one of {', '.join(MODES)}")
            actions.append(action)
        except (TypeError, ValueError, cattrs.errors.CattrsError) as error:
            warnings.append(f"metaai.actions[{index}] {_reason(error)}; it was skipped.")
    return tuple(actions)


def _reason(error: BaseException) -> str:
    if isinstance(error, cattrs.BaseValidationError):
        messages = cattrs.transform_error(error)
        return "is invalid: " + "; ".join(messages)
    if isinstance(error, cattrs.errors.CattrsError) and " not in literal " in str(error):
        choices = str(error).split("Literal[", 1)[-1].rstrip("]")
        return f"must be one of {choices}"
    return str(error) if str(error).startswith("must") else f"is invalid: {error}"
