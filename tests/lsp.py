"""Fixtures and helpers for end-to-end tests of the language server."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable
from typing import Any

import pytest_asyncio
from lsprotocol import types
from pytest_lsp import client_capabilities

from tests.editor import SERVER_COMMAND, EditorClient, make_editor_client

CLIENTS = ["neovim", "visual_studio_code"]

# A document with astral-plane and CJK text before and inside the code being asked about.
CODE = "# 😀 héllo 中文\ndef double(x):\n    return x+x  # 🎉\n\nprint(double(2))\n"


def server_env(home: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("METAAI_")}
    return {
        **env,
        "HOME": home,
        "METAAI_LOG_LEVEL": "DEBUG",
        "METAAI_READ_TIMEOUT": "2",
        "METAAI_FIRST_TEXT_TIMEOUT": "2",
        "METAAI_IDENTIFIERS": os.environ["METAAI_IDENTIFIERS"],
    }


def settings_for(fake, cookie_file, **extra: Any) -> dict[str, Any]:
    urls = {"url": fake.url, "graphUrl": fake.url, "gatewayUrl": fake.gateway_url}
    return {"metaai": {**urls, "cookiesFile": str(cookie_file), **extra}}


async def start_client(
    capabilities: types.ClientCapabilities,
    options: dict[str, Any],
    home: str,
    env: dict[str, str] | None = None,
    folder: str | None = None,
) -> EditorClient:
    client = make_editor_client()
    await client.start_io(*SERVER_COMMAND, env={**server_env(home), **(env or {})})
    client.initialize_result = await client.start_session(capabilities, options, folder)
    return client


async def start_impatient_client(fake, cookie_file, home: str) -> EditorClient:
    """A VS Code client whose server waits only 0.5 s for each edit to be answered."""
    return await start_client(
        client_capabilities("visual_studio_code"),
        settings_for(fake, cookie_file),
        home,
        env={"METAAI_APPLY_EDIT_TIMEOUT": "0.5"},
    )


async def stop_client(client: EditorClient) -> None:
    await client.shutdown_session()
    await client.stop()


def capabilities_without_progress(name: str) -> types.ClientCapabilities:
    capabilities = client_capabilities(name)
    capabilities.window.work_done_progress = False
    return capabilities


@pytest_asyncio.fixture(params=CLIENTS)
async def client(request, fake, cookie_file, tmp_path):
    """A client with an editor's capabilities, connected to a fresh server."""
    lsp = await start_client(
        client_capabilities(request.param), settings_for(fake, cookie_file), str(tmp_path)
    )
    lsp.client_name = request.param
    yield lsp
    await stop_client(lsp)


async def wait_until(predicate: Callable[[], bool], timeout: float = 10.0) -> None:
    async def poll() -> None:
        while not predicate():
            await asyncio.sleep(0.005)

    await asyncio.wait_for(poll(), timeout)


def progress_of(client: EditorClient) -> list[Any]:
    """The values of the one progress token the client saw."""
    (values,) = client.progress_reports.values()
    return values


def joined_reports(values: list[Any]) -> str:
    return "".join(v.message for v in values if isinstance(v, types.WorkDoneProgressReport))


async def server_caught_up(client: EditorClient, uri: str) -> None:
    """Return once the server handled everything sent before (it answers requests in
    order: a change sent earlier has been read when this request is answered)."""
    await client.text_document_code_lens_async(
        types.CodeLensParams(text_document=types.TextDocumentIdentifier(uri))
    )
