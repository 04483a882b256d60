"""Issue 21: `metaai.ask` with `"wait": false` for clients that give up on a request
after ~10 s (lsp-mode, eglot, Helix): answered at once, written exactly as a waiting ask,
its end told through the progress `end` and `window/showMessage`; the code actions and the
Retry lens use it; cancel works for it."""

from __future__ import annotations

import asyncio

import pytest
from lsprotocol import types
from pygls.exceptions import JsonRpcInvalidParams

from metaai_ls.testing import FakeAnswer
from tests.lsp import (
    CODE,
    capabilities_without_progress,
    settings_for,
    start_client,
    stop_client,
    wait_until,
)
from tests.test_answers import ANSWER, FUNCTION, NEW_FUNCTION, paced, whole_function


def ended(client) -> list[types.WorkDoneProgressEnd]:
    return [
        value
        for values in client.progress_reports.values()
        for value in values
        if isinstance(value, types.WorkDoneProgressEnd)
    ]


def shown(client, kind: types.MessageType) -> list[str]:
    return [m.message for m in client.messages if m.type == kind]


async def test_answered_at_once_then_written_exactly(client, fake):
    paced(fake)
    fake.interval = 0.05  # slower than the request's answer by far
    doc = client.open("file:///w/a.py", CODE)
    range_ = whole_function(client, doc.uri)
    result = await client.ask(uri=doc.uri, range=range_, prompt="p", mode="replace", wait=False)
    assert result == {"started": True}
    assert doc.text == CODE  # nothing written yet: the answer had not begun
    await wait_until(lambda: ended(client), timeout=20)
    assert ended(client)[0].message == "Done"
    assert doc.text == CODE.replace(FUNCTION, NEW_FUNCTION)
    (values,) = client.progress_reports.values()
    assert values[0].title == "Meta AI: Replace"


async def test_the_code_actions_and_the_retry_lens_do_not_wait(client, fake):
    doc = client.open("file:///w/a.py", CODE)
    range_ = whole_function(client, doc.uri)
    actions = await client.text_document_code_action_async(
        types.CodeActionParams(
            types.TextDocumentIdentifier(doc.uri), range_, types.CodeActionContext(diagnostics=[])
        )
    )
    refactor = next(a for a in actions if a.title == "Meta AI: Refactor / Improve")
    argument = refactor.command.arguments[0]
    assert argument["wait"] is False and argument["title"] == "Refactor / Improve"
    paced(fake)
    assert await client.ask(**argument) == {"started": True}
    await wait_until(lambda: doc.text == CODE.replace(FUNCTION, NEW_FUNCTION), timeout=20)
    (values,) = client.progress_reports.values()
    assert values[0].title == "Meta AI: Refactor / Improve"
    assert "{language}" not in values[0].message and "python" in values[0].message

    lenses = []

    async def three_lenses() -> None:
        nonlocal lenses
        while len(lenses) != 3:
            lenses = await client.text_document_code_lens_async(
                types.CodeLensParams(types.TextDocumentIdentifier(doc.uri))
            )

    await asyncio.wait_for(three_lenses(), 10)
    retry = next(lens.command for lens in lenses if lens.command.title == "Retry")
    assert retry.arguments[0]["wait"] is False
    fake.answers.append(FakeAnswer("```\ndef double(x):\n    return x << 1\n```"))
    result = await client.workspace_execute_command_async(
        types.ExecuteCommandParams(retry.command, retry.arguments)
    )
    assert result == {"started": True}
    retried = CODE.replace(FUNCTION, "def double(x):\n    return x << 1\n")
    await wait_until(lambda: doc.text == retried, timeout=20)


@pytest.mark.parametrize("how", ["progress", "command"])
async def test_cancel_puts_the_original_back(client, fake, how):
    fake.scenario, fake.chunk_size = "slow", 12
    fake.answers.append(FakeAnswer(ANSWER))
    doc = client.open("file:///w/a.py", CODE)
    range_ = whole_function(client, doc.uri)
    assert await client.ask(uri=doc.uri, range=range_, prompt="p", mode="replace", wait=False)
    await wait_until(lambda: "step_1 =" in doc.text)
    if how == "progress":
        (token,) = client.progress_reports
        client.window_work_done_progress_cancel(types.WorkDoneProgressCancelParams(token))
    else:
        assert await client.command("metaai.cancel", {"uri": doc.uri}) == {"cancelled": 1}
    await wait_until(lambda: ended(client))
    assert ended(client)[0].message == "Cancelled" and doc.text == CODE
    await wait_until(lambda: shown(client, types.MessageType.Info))
    assert "cancelled" in shown(client, types.MessageType.Info)[0]
    await fake.wait_for_stream(lambda r: r.client_gone_at is not None, timeout=2)


async def test_a_failure_is_shown_and_ends_the_progress(client, fake):
    fake.scenario = "cut"
    fake.answers.append(FakeAnswer(ANSWER))
    doc = client.open("file:///w/a.py", CODE)
    range_ = whole_function(client, doc.uri)
    await client.ask(uri=doc.uri, range=range_, prompt="p", mode="replace", wait=False)
    await wait_until(lambda: ended(client))
    assert ended(client)[0].message == "Failed" and doc.text == CODE
    assert any("cut off" in m for m in shown(client, types.MessageType.Error))


async def test_a_chat_answer_is_shown_to_a_client_that_did_not_wait(fake, cookie_file, tmp_path):
    client = await start_client(
        capabilities_without_progress("visual_studio_code"),
        settings_for(fake, cookie_file),
        str(tmp_path),
    )
    try:
        fake.answers.append(FakeAnswer("Tests:\n```python\nassert double(2) == 4\n```"))
        doc = client.open("file:///w/a.py", CODE)
        result = await client.ask(uri=doc.uri, prompt="write tests", mode="chat", wait=False)
        assert result == {"started": True}
        await wait_until(lambda: shown(client, types.MessageType.Info))
        assert shown(client, types.MessageType.Info) == [
            "Meta AI: Tests:\n```python\nassert double(2) == 4\n```"
        ]
        assert client.progress_reports == {}
    finally:
        await stop_client(client)


async def test_bad_input_is_still_an_error_at_once(client, fake):
    with pytest.raises(JsonRpcInvalidParams, match="is not open"):
        await client.ask(uri="file:///w/none.py", prompt="p", mode="chat", wait=False)
    doc = client.open("file:///w/a.py", CODE)
    with pytest.raises(JsonRpcInvalidParams, match="`wait` must be true or false"):
        await client.ask(uri=doc.uri, prompt="p", mode="chat", wait="no")
    assert fake.sent_messages() == []
