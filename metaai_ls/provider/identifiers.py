"""Every identifier of Meta AI's web build, in one place.

Meta changes `doc_id`s when it ships a new web client; override them without a release
through a JSON file named by ``METAAI_IDENTIFIERS`` (same keys as below) or the
``identifiers`` argument of the provider.
"""

from __future__ import annotations

import dataclasses
import json
import os
from collections.abc import Mapping
from typing import Any

DEFAULT_URL = "https://www.meta.ai"
DEFAULT_GRAPH_URL = "https://graph.meta.ai"


@dataclasses.dataclass(frozen=True)
class Identifiers:
    send_message_doc_id: str = "7783822248314888"
    send_message_name: str = "useAbraSendMessageMutation"
    accept_tos_doc_id: str = "7604648749596940"
    accept_tos_name: str = "useAbraAcceptTOSForTempUserMutation"
    sources_doc_id: str = "6946734308765963"
    sources_name: str = "AbraSearchPluginDialogQuery"
    asbd_id: str = "129477"
    login_cookie: str = "abra_sess"
    entrypoint: str = "ABRA__CHAT__TEXT"
    temp_user_birthday: str = "1999-01-01"
    web_graphql_path: str = "/api/graphql/"
    graph_graphql_path: str = "/graphql?locale=user"

    def replace(self, overrides: Mapping[str, Any]) -> Identifiers:
        known = {field.name for field in dataclasses.fields(self)}
        unknown = set(overrides) - known
        if unknown:
            raise ValueError(f"unknown Meta AI identifiers: {', '.join(sorted(unknown))}")
        return dataclasses.replace(self, **{k: str(v) for k, v in overrides.items()})


def load_identifiers(overrides: Mapping[str, Any] | None = None) -> Identifiers:
    """The defaults, then ``METAAI_IDENTIFIERS`` (a JSON file), then ``overrides``."""
    identifiers = Identifiers()
    if path := os.environ.get("METAAI_IDENTIFIERS"):
        with open(path, encoding="utf-8") as file:
            identifiers = identifiers.replace(json.load(file))
    if overrides:
        identifiers = identifiers.replace(overrides)
    return identifiers


def web_url() -> str:
    """The web host, read at call time so tests and mirrors can point elsewhere."""
    return os.environ.get("METAAI_URL", DEFAULT_URL).rstrip("/")


def graph_url() -> str:
    return os.environ.get("METAAI_GRAPH_URL", DEFAULT_GRAPH_URL).rstrip("/")
