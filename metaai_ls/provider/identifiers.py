"""Every volatile value of Meta AI's clients, as data.

The defaults live in ``identifiers.json`` beside this module. Meta changes doc_ids, field
numbers and mode names when it ships a new web client: override any of them without a
release through a JSON file named by ``METAAI_IDENTIFIERS`` or the ``identifiers``
argument of the providers. Objects merge key by key; an unknown key is an error that
names it, so that a typo never passes silently.
"""

from __future__ import annotations

import functools
import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from .decode import loads
from .errors import ConfigError

DEFAULT_URL = "https://www.meta.ai"
DEFAULT_GRAPH_URL = "https://graph.meta.ai"
DEFAULT_GATEWAY_URL = "wss://gateway.meta.ai/ws/clippy"
DEFAULT_API_URL = "https://api.meta.ai/v1"
PROTOCOLS = ("auto", "gateway", "abra")

# Objects whose keys are themselves data: an override may add keys there.
OPEN_OBJECTS = {"models", "model_aliases", "gateway.query", "gateway.open_payload"}


@functools.cache
def _defaults() -> dict[str, Any]:
    text = (Path(__file__).with_name("identifiers.json")).read_text(encoding="utf-8")
    data = json.loads(text)
    data.pop("_comment", None)
    return data


@functools.cache
def _defaults_json() -> bytes:
    return json.dumps(_defaults()).encode()


class Identifiers:
    """The merged identifiers; sections read as ``ids["gateway"]["app_id"]``."""

    def __init__(self, data: dict[str, Any]) -> None:
        self.data = data

    def __getitem__(self, key: str) -> Any:
        return self.data[key]

    def login_cookie(self, dialect: str) -> str:
        return self.data["login_cookies"][dialect]

    def model(self, name: str | None) -> tuple[str, dict[str, Any]]:
        """The account model's name and its mode values; unknown names are an error."""
        models = self.data["models"]
        key = self.data["model_aliases"].get(name or "", name or "")
        if key not in models:
            valid = ", ".join(sorted(models))
            raise ConfigError(
                f"Unknown Meta AI model {name!r}: the account offers {valid}. "
                "Set `model` (or --model) to one of them."
            )
        return key, models[key]


def merge(base: dict[str, Any], overrides: Mapping[str, Any], where: str = "") -> list[str]:
    """Merge ``overrides`` into ``base`` in place; returns the unknown or mistyped keys."""
    problems: list[str] = []
    for key, value in overrides.items():
        path = f"{where}.{key}" if where else key
        if value is None and where in OPEN_OBJECTS:  # null: the client no longer sends it
            base.pop(key, None)
            continue
        if key not in base:
            if where in OPEN_OBJECTS:
                base[key] = value
            else:
                problems.append(f"{path} (unknown)")
            continue
        current = base[key]
        if isinstance(current, dict):
            if not isinstance(value, Mapping):
                problems.append(f"{path} (must be an object)")
            else:
                problems += merge(current, value, path)
        elif not _same_kind(current, value):
            problems.append(f"{path} (must be {type(current).__name__})")
        else:
            base[key] = value
    return problems


def _same_kind(default: Any, value: Any) -> bool:
    if isinstance(default, bool) or isinstance(value, bool):
        return isinstance(default, bool) and isinstance(value, bool)
    if isinstance(default, int | float):
        return isinstance(value, int | float)
    return isinstance(value, type(default))


def defaults() -> dict[str, Any]:
    """A copy of the built-in values (parsed again: 8x faster than a deep copy)."""
    return loads(_defaults_json())


def learned_path() -> Path:
    """Where `metaai-ls learn` keeps what it learnt (``$XDG_CONFIG_HOME/metaai-ls``)."""
    base = os.environ.get("XDG_CONFIG_HOME") or os.path.join(os.path.expanduser("~"), ".config")
    return Path(base) / "metaai-ls" / "identifiers.json"


LEARNED_HELP = "run `metaai-ls learn` again, or `metaai-ls learn --forget`"


def load_identifiers(overrides: Mapping[str, Any] | None = None) -> Identifiers:
    """The defaults, then the learned layer, then ``METAAI_IDENTIFIERS`` (a JSON file),
    then ``overrides``."""
    data = defaults()
    learned = learned_path()
    if learned.is_file():
        source = f"The learned values ({learned})"
        _apply(data, _read_file(str(learned), source, LEARNED_HELP), source, LEARNED_HELP)
    if path := os.environ.get("METAAI_IDENTIFIERS"):
        _apply(data, _read_file(path), f"METAAI_IDENTIFIERS ({path})")
    if overrides:
        _apply(data, overrides, "the identifiers given")
    return Identifiers(data)


NAMES_HELP = "See metaai_ls/provider/identifiers.json for the names"


def _apply(data: dict[str, Any], overrides: Any, source: str, help: str = NAMES_HELP) -> None:
    if not isinstance(overrides, Mapping):
        raise ConfigError(f"{source} must hold a JSON object; {help}.")
    overrides = {k: v for k, v in overrides.items() if not k.startswith("_")}  # comments
    if problems := merge(data, overrides):
        raise ConfigError(f"{source} has keys metaai-ls cannot use: {', '.join(problems)}. {help}.")


def _read_file(path: str, source: str = "", help: str = "") -> Any:
    source = source or f"METAAI_IDENTIFIERS ({path})"
    after = f"; {help}." if help else "."
    try:
        with open(path, encoding="utf-8") as file:
            return json.loads(file.read(1 << 20))
    except OSError as error:
        raise ConfigError(f"{source} cannot be read: {error.strerror}{after}") from None
    except ValueError as error:
        raise ConfigError(f"{source} is not valid JSON: {error}{after}") from None


def _env_url(name: str, default: str) -> str:
    return (os.environ.get(name) or default).rstrip("/")


def web_url() -> str:
    """The web host, read at call time so tests and mirrors can point elsewhere."""
    return _env_url("METAAI_URL", DEFAULT_URL)


def graph_url() -> str:
    return _env_url("METAAI_GRAPH_URL", DEFAULT_GRAPH_URL)


def gateway_url(ids: Identifiers | None = None) -> str:
    """METAAI_GATEWAY_URL, else a learned ``gateway.url``, else the built-in one."""
    learned = ids["gateway"].get("url") if ids is not None else ""
    return _env_url("METAAI_GATEWAY_URL", learned or DEFAULT_GATEWAY_URL)


def api_url() -> str:
    return _env_url("METAAI_API_URL", DEFAULT_API_URL)


def protocol(value: str | None = None) -> str:
    chosen = (value or os.environ.get("METAAI_PROTOCOL") or "auto").lower()
    if chosen not in PROTOCOLS:
        raise ConfigError(
            f"Unknown protocol {chosen!r}: METAAI_PROTOCOL (or `protocol`) must be "
            + ", ".join(PROTOCOLS)
            + "."
        )
    return chosen
