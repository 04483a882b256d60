"""Web clients the fake Meta AI can be: today's (``DEFAULT``, the built-in identifiers) and a
changed one (``DRIFTED``), as Meta ships every few months. The fake serves and requires the
profile it is given (``fake.profile``); ``browser.capture`` drives it as that client would."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from typing import Any

from metaai_ls.provider.identifiers import defaults

from .fake_gateway import APP_ID, CONVERSATION_FIELDS, MODE_DOC_ID, WARMUP_DOC_ID

# How today's page embeds the token: an escaped JSON property inside a script string.
ESCAPED_PAGE = (
    '{"props":"{\\"accessToken\\":\\"{token}\\",\\"viewerId\\":\\"{viewer_id}\\",\\"x\\":1}"}'
)


@dataclasses.dataclass(frozen=True)
class Profile:
    name: str
    app_id: str
    query: Mapping[str, str]  # the handshake's query ({access_token}, {request_id}, {app_id})
    open_payload: Mapping[str, str]  # the open frame's JSON ({conversation_id})
    warmup_doc_id: str
    mode_doc_id: str
    page: str  # the home page's script, with {token} and {viewer_id}
    message: Sequence[Sequence[Any]]  # the prompt message the web client sends (rows)
    conversation_fields: tuple[str, ...]  # where the gateway needs the conversation id
    required: tuple[tuple[str, Any], ...] = ()  # (path, value) a message must carry
    entry_point_new: str = "KADABRA__HOME__UNIFIED_INPUT_BAR"
    entry_point_follow_up: str = "KADABRA__CHAT__UNIFIED_INPUT_BAR"
    branch_path_new: str = "0"
    branch_path_follow_up: str = "0"
    account_id: int = 1156502010890740  # the capturing account's (the page's viewer id)

    def home_script(self, token: str) -> str:
        return self.page.replace("{token}", token).replace("{viewer_id}", str(self.account_id))

    @property
    def conversation_key(self) -> str:
        return next(k for k, v in self.open_payload.items() if v == "{conversation_id}")

    def query_problem(self, query: Mapping[str, str]) -> str | None:
        """What is wrong with a handshake's query for this client (None: nothing)."""
        for name, value in self.query.items():
            if value.startswith("{"):
                if not query.get(name):
                    return f"no {name}"
            elif query.get(name) != value:
                return f"{name} must be {value}"
        return None


def _default() -> Profile:
    gw = defaults()["gateway"]
    return Profile(
        name="default",
        app_id=APP_ID,  # the fake's own values, where the client's data could be wrong
        query=dict(gw["query"]),
        open_payload=dict(gw["open_payload"]),
        warmup_doc_id=WARMUP_DOC_ID,
        mode_doc_id=MODE_DOC_ID,
        page=ESCAPED_PAGE,
        message=[list(row) for row in gw["message"]],
        conversation_fields=CONVERSATION_FIELDS,
    )


DEFAULT = _default()


def _drifted_message() -> list[list[Any]]:
    rows = []
    for path, kind, value in DEFAULT.message:
        if path == "1.1.5.5.1":
            path = "1.1.5.6.1"  # the conversation moved
        rows.append([path, kind, value])
        if path == "1.7.13":
            rows.append(["1.7.14", "varint", 1])  # a new flag the gateway requires
    return rows


DRIFTED = dataclasses.replace(
    DEFAULT,
    name="drifted",
    app_id="1791137735263841",
    query={
        **{k: v for k, v in DEFAULT.query.items() if k != "x-dgw-version"},
        "x-dgw-appversion": "1.4.2",
        "x-dgw-version": "6",
        "x-dgw-app-build": "c0ffee42",
    },
    open_payload={**DEFAULT.open_payload, "x-dgw-app-client-version": "2"},
    warmup_doc_id="5b1f0a7e9c3d4e2fa8b6c1d0e9f8a7b6",
    mode_doc_id="d4c3b2a1f0e9d8c7b6a5f4e3d2c1b0a9",
    # The token moved out of the escaped JSON property into a call's argument.
    page='requireLazy(["EctoSession"],function(s){s.init({"sessionToken":"{token}"})});',
    message=_drifted_message(),
    conversation_fields=("1.1.5.6.1", "1.10.4", "2.1.2.1"),
    required=(("1.7.14", 1),),
    branch_path_follow_up="2",
    account_id=1064847926714808,
)
