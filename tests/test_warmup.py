"""Warming up on intent (issue 19), through the server as an editor drives it: code
actions on a selection (or `metaai.warmup`) open the socket and stream the next ask
uses, so that the ask only sends its message; bounded, and off with `warmup: false`."""

from __future__ import annotations

import asyncio
import json

import pytest
import pytest_asyncio
from lsprotocol import types
from pytest_lsp import client_capabilities

from tests.lsp import settings_for, start_client, stop_client, wait_until

CODE = "def double(x):\n    return x + x\n"


def paths(fake) -> list[str]:
    return [r.path for r in fake.requests]


@pytest_asyncio.fixture
async def editor(fake, cookie_file, tmp_path):
    """A Neovim-like client; `editor.restart(**settings)` starts it with other settings."""
    clients = []

    async def start(env=None, **extra):
        client = await start_client(
            client_capabilities("neovim"),
            settings_for(fake, cookie_file, **extra),
            str(tmp_path),
            env,
        )
        clients.append(client)
        return client

    yield start
    for client in clients:
        await stop_client(client)


async def code_actions(client, uri: str, start: int, end: int):
    range_ = types.Range(types.Position(0, start), types.Position(0, end))
    params = types.CodeActionParams(
        types.TextDocumentIdentifier(uri), range_, types.CodeActionContext(diagnostics=[])
    )
    return await client.text_document_code_action_async(params)


async def test_code_actions_on_a_selection_open_the_stream_the_ask_then_uses(editor, fake):
    client = await editor()
    doc = client.open("file:///w/a.py", CODE)
    assert await code_actions(client, doc.uri, 0, 10)
    await wait_until(lambda: fake.open_sockets and "/ws/clippy" in paths(fake))
    await asyncio.sleep(0.1)  # the stream's acknowledgement
    assert fake.messages == []  # warmed, nothing asked
    result = await client.ask(uri=doc.uri, prompt="Explain", mode="chat")
    assert result["text"].startswith("Meta AI (offline fake)")
    (message,) = fake.sent_messages()
    warmed = next(r for r in fake.requests if r.path == "/api/graphql")
    assert message.conversation_id == warmed.json["variables"]["conversationId"]
    # Never more than one ask would send: one page, two GraphQL calls, one handshake.
    assert sorted(paths(fake)) == ["/", "/api/graphql", "/api/graphql", "/ws/clippy"]
    assert fake.sockets == 1 and message.fields["sequence"] == 0


async def test_a_follow_up_through_the_server_needs_no_new_socket(editor, fake):
    client = await editor(warmup=False)
    doc = client.open("file:///w/a.py", CODE)
    await client.ask(uri=doc.uri, prompt="Explain", mode="chat")
    await client.ask(uri=doc.uri, prompt="And again", mode="chat")
    first, second = fake.sent_messages()
    assert first.conversation_id == second.conversation_id
    assert fake.sockets == 1 and (first.fields["sequence"], second.fields["sequence"]) == (0, 1)
    assert paths(fake).count("/") == 1


async def test_an_empty_selection_or_the_setting_off_warms_nothing(editor, fake):
    client = await editor()
    doc = client.open("file:///w/a.py", CODE)
    assert await code_actions(client, doc.uri, 3, 3) is None
    off = await editor(warmup=False)
    other = off.open("file:///w/b.py", CODE)
    assert await code_actions(off, other.uri, 0, 10)
    await asyncio.sleep(0.5)
    assert fake.requests == []


async def test_many_code_action_requests_warm_once(editor, fake):
    client = await editor()
    doc = client.open("file:///w/a.py", CODE)
    for end in range(5, 15):  # the editor asks again at each selection change
        await code_actions(client, doc.uri, 0, end)
    await wait_until(lambda: fake.open_sockets)
    await asyncio.sleep(0.3)
    assert sorted(paths(fake)) == ["/", "/api/graphql", "/api/graphql", "/ws/clippy"]


async def test_metaai_warmup_for_a_chat_view(editor, fake):
    client = await editor()

    async def warmup(*arguments):
        return await client.workspace_execute_command_async(
            types.ExecuteCommandParams(command="metaai.warmup", arguments=list(arguments))
        )

    assert await warmup({}) == {}  # a new conversation
    await wait_until(lambda: fake.open_sockets)
    doc = client.open("file:///w/a.py", CODE)
    await client.ask(uri=doc.uri, prompt="Explain", mode="chat")
    (message,) = fake.sent_messages()
    assert await warmup({"conversation": message.conversation_id}) == {}  # kept already
    assert await warmup({"conversation": "not-a-conversation-of-this-server"}) == {}
    await asyncio.sleep(0.3)
    assert fake.sockets == 1 and paths(fake).count("/") == 1


async def test_an_unused_warmed_stream_is_dropped(editor, fake, tmp_path):
    identifiers = tmp_path / "identifiers.json"
    identifiers.write_text(json.dumps({"gateway": {"open_wait_ms": 0, "warm_stream_seconds": 0.5}}))
    client = await editor(env={"METAAI_IDENTIFIERS": str(identifiers)})
    doc = client.open("file:///w/a.py", CODE)
    await code_actions(client, doc.uri, 0, 10)
    await wait_until(lambda: fake.open_sockets)
    await wait_until(lambda: not fake.open_sockets, timeout=5)
    assert fake.messages == []


@pytest.mark.parametrize("value", ["yes", 1])
async def test_a_warmup_setting_that_is_not_a_boolean_is_a_warning(editor, fake, value):
    client = await editor(warmup=value)
    await wait_until(lambda: client.messages)
    assert "metaai.warmup must be true or false" in client.messages[0].message
