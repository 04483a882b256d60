"""End to end: edits re-expressed as real editors do, overlapping asks, an editor that
never answers, keep / discard / retry with code lenses, and the client's own progress
token — under both editors' capabilities, at Meta AI's pace."""

from __future__ import annotations

import asyncio

import pytest
from lsprotocol import types
from pytest_lsp import client_capabilities

from metaai_ls.testing import FakeAnswer
from tests.lsp import (
    CLIENTS,
    CODE,
    settings_for,
    start_client,
    start_impatient_client,
    stop_client,
    wait_until,
)

BODY = "".join(f"    step_{n} = {n}  # 中\n" for n in range(12)) + "    return 2 * x\n"
ANSWER = f"Here:\n```python\ndef double(x):\n{BODY}```\n"
FUNCTION = "def double(x):\n    return x+x  # 🎉\n"
NEW_FUNCTION = f"def double(x):\n{BODY}"


def whole_function(client, uri: str) -> types.Range:
    text = client.documents[uri].text
    start = text.index("def double")
    end = text.index("print") - (2 if "\r\n" in text else 1)
    return client.range_of(uri, start, end)


def paced(fake, answer: str = ANSWER) -> None:
    """Meta AI's pace: a snippet every 30 ms."""
    fake.answers.append(FakeAnswer(answer))
    fake.chunk_size, fake.interval = 9, 0.03


@pytest.mark.parametrize("style", ["split", "whole"])
@pytest.mark.parametrize("eol", ["\n", "\r\n"])
async def test_edits_the_editor_re_expresses_are_recognised(client, fake, style, eol):
    """VS Code reports one server edit as several changes and writes line breaks its
    document's way; a full-sync client reports the whole text. The answer is written
    once, whole, in the document's line endings, with no warning."""
    client.report_style = style
    paced(fake, ANSWER.replace("\n", "\r\n") if eol == "\n" else ANSWER)  # the other kind
    code = CODE.replace("\n", eol)
    doc = client.open("file:///w/a.py", code)
    result = await client.ask(
        uri=doc.uri, range=whole_function(client, doc.uri), prompt="p", mode="replace"
    )
    assert "error" not in result
    assert doc.text == code.replace(FUNCTION.replace("\n", eol), NEW_FUNCTION.replace("\n", eol))
    assert len(client.applied_edits) > 3 and not client.refused_edits
    assert not [m for m in client.messages if m.type <= types.MessageType.Warning]


async def test_a_second_ask_on_the_same_selection_is_refused(client, fake):
    paced(fake)
    doc = client.open("file:///w/a.py", CODE)
    range_ = whole_function(client, doc.uri)
    first = client.ask_later(uri=doc.uri, range=range_, prompt="p", mode="replace")
    await wait_until(lambda: "step_1 =" in doc.text)
    second = await client.ask(uri=doc.uri, range=range_, prompt="again", mode="insert")
    assert second["text"] == "" and "another answer is being written there" in second["error"]
    assert "error" not in await asyncio.wait_for(first, 15)
    assert doc.text == CODE.replace(FUNCTION, NEW_FUNCTION)
    warnings = [m.message for m in client.messages if m.type == types.MessageType.Warning]
    assert any("another answer is being written there" in w for w in warnings)
    assert len(fake.messages) == 1  # the second was never sent to Meta AI


async def test_an_editor_that_never_answers_an_edit(fake, cookie_file, tmp_path):
    client = await start_impatient_client(fake, cookie_file, str(tmp_path))
    try:
        client.never_answer_edits = True
        paced(fake)
        doc = client.open("file:///w/a.py", CODE)
        range_ = whole_function(client, doc.uri)
        result = await asyncio.wait_for(
            client.ask(uri=doc.uri, range=range_, prompt="p", mode="replace"), 15
        )
        assert result["text"] == ANSWER  # the answer is still returned
        assert "did not answer its edits" in result["error"]  # not a success (issue 16 #14)
        warnings = [m.message for m in client.messages if m.type == types.MessageType.Warning]
        assert any("the editor did not answer its edits" in w for w in warnings)
        assert doc.text == CODE  # nothing was applied
    finally:
        client.edits_released.set()
        await stop_client(client)


async def lenses(client, uri: str) -> list[types.CodeLens]:
    return await client.text_document_code_lens_async(
        types.CodeLensParams(types.TextDocumentIdentifier(uri))
    )


async def lenses_again(client, uri: str) -> list[types.CodeLens]:
    """The lenses once an answer is written again."""
    while not (found := await lenses(client, uri)):
        await asyncio.sleep(0.05)
    return found


async def written_answer(client, fake) -> tuple:
    paced(fake)
    doc = client.open("file:///w/a.py", CODE)
    await client.ask(uri=doc.uri, range=whole_function(client, doc.uri), prompt="p", mode="replace")
    assert doc.text == CODE.replace(FUNCTION, NEW_FUNCTION)
    return doc, await lenses(client, doc.uri)


async def test_a_written_answer_carries_keep_discard_retry_lenses(client, fake):
    doc, found = await written_answer(client, fake)
    assert [lens.command.title for lens in found] == ["Keep", "Discard", "Retry"]
    assert [lens.command.command for lens in found] == [
        "metaai.keep",
        "metaai.discard",
        "metaai.retry",
    ]
    assert found[0].range.start.line == 1  # the answer's first line
    assert found[0].command.arguments[0]["uri"] == doc.uri
    if client.client_name == "visual_studio_code":  # it declares refreshSupport
        await wait_until(lambda: client.code_lens_refreshes >= 1)
    result = await client.workspace_execute_command_async(
        types.ExecuteCommandParams("metaai.keep", [{"uri": doc.uri}])
    )
    assert result == {"kept": True} and not await lenses(client, doc.uri)
    assert doc.text == CODE.replace(FUNCTION, NEW_FUNCTION)


async def test_discard_puts_the_original_back_after_edits_elsewhere(client, fake):
    doc, _ = await written_answer(client, fake)
    client.replace(doc.uri, 0, 0, "import os\n")  # before the answer
    end = len(doc.text)
    client.replace(doc.uri, end, end, "# the end\n")  # after it
    argument = (await lenses(client, doc.uri))[1].command.arguments[0]
    result = await client.workspace_execute_command_async(
        types.ExecuteCommandParams("metaai.discard", [argument])
    )
    assert result == {"discarded": True}
    assert doc.text == "import os\n" + CODE + "# the end\n"
    assert not await lenses(client, doc.uri)


async def test_editing_inside_an_answer_keeps_it(client, fake):
    doc, _ = await written_answer(client, fake)
    at = doc.text.index("step_3")
    client.replace(doc.uri, at, at, "my_")
    await wait_until(lambda: doc.text.count("my_step_3") == 1)
    await asyncio.sleep(0.1)
    assert not await lenses(client, doc.uri)
    with pytest.raises(Exception, match="no Meta AI answer waits"):
        await client.workspace_execute_command_async(
            types.ExecuteCommandParams("metaai.discard", [{"uri": doc.uri}])
        )


async def test_retry_asks_again_with_the_same_prompt(client, fake):
    doc, _ = await written_answer(client, fake)
    fake.answers.append(FakeAnswer("```\ndef double(x):\n    return x << 1\n```"))
    result = await client.workspace_execute_command_async(
        types.ExecuteCommandParams("metaai.retry", [{"uri": doc.uri}])
    )
    assert result["text"].startswith("```")
    assert doc.text == CODE.replace(FUNCTION, "def double(x):\n    return x << 1\n")
    prompts = [m.prompt for m in fake.messages]
    assert len(prompts) == 2 and "x+x" in prompts[1]  # the original selection, asked again
    assert len(await lenses(client, doc.uri)) == 3  # the new answer waits in its turn


async def test_lenses_shown_before_a_retry_reach_the_retried_answer(client, fake):
    """An editor may keep showing the lenses it had on a line until it asks again (VS Code
    updates a line's lens commands only once it re-resolves them): the retried answer takes
    the place, and the id, of the one it replaces, so the Keep clicked there keeps it."""
    doc, before = await written_answer(client, fake)
    fake.answers.append(FakeAnswer("```\ndef double(x):\n    return x << 1\n```"))
    retry = before[2].command
    await client.workspace_execute_command_async(
        types.ExecuteCommandParams(retry.command, retry.arguments)
    )
    after = await asyncio.wait_for(lenses_again(client, doc.uri), 15)  # the lens did not wait
    assert [lens.command.arguments for lens in after] == [lens.command.arguments for lens in before]
    keep = before[0].command  # the lens as the editor still shows it
    result = await client.workspace_execute_command_async(
        types.ExecuteCommandParams(keep.command, keep.arguments)
    )
    assert result == {"kept": True} and not await lenses(client, doc.uri)
    assert doc.text == CODE.replace(FUNCTION, "def double(x):\n    return x << 1\n")


async def test_a_new_ask_over_an_answer_answers_to_its_lenses(client, fake):
    """A new ask over a written answer keeps that one and writes in its place: the lenses
    the editor still shows there address the new answer."""
    doc, before = await written_answer(client, fake)
    fake.answers.append(FakeAnswer("```\ndef double(x):\n    return x << 1\n```"))
    await client.ask(uri=doc.uri, range=whole_function(client, doc.uri), prompt="q", mode="replace")
    discard = before[1].command
    result = await client.workspace_execute_command_async(
        types.ExecuteCommandParams(discard.command, discard.arguments)
    )
    assert result == {"discarded": True}
    assert doc.text == CODE.replace(FUNCTION, NEW_FUNCTION)  # the first answer, kept


@pytest.mark.parametrize("client_name", CLIENTS)
async def test_progress_on_the_clients_own_token(fake, cookie_file, tmp_path, client_name):
    """A workDoneToken in the command's params is used as is: no token is created."""
    settings = settings_for(fake, cookie_file, progressDeltas=True)
    client = await start_client(client_capabilities(client_name), settings, str(tmp_path))
    try:
        paced(fake)
        doc = client.open("file:///w/a.py", CODE)
        argument = {
            "uri": doc.uri,
            "range": whole_function(client, doc.uri),
            "prompt": "p",
            "mode": "chat",
        }
        client.progress_reports["mine-1"] = []  # the client's own token, known to it
        await client.workspace_execute_command_async(
            types.ExecuteCommandParams("metaai.ask", [argument], work_done_token="mine-1")
        )
        assert list(client.progress_reports) == ["mine-1"]
        values = client.progress_reports["mine-1"]
        assert isinstance(values[0], types.WorkDoneProgressBegin)
        assert isinstance(values[-1], types.WorkDoneProgressEnd)
        reports = [v.message for v in values if isinstance(v, types.WorkDoneProgressReport)]
        assert "".join(reports) == ANSWER
    finally:
        await stop_client(client)
