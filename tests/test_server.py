"""The language server end to end: capabilities, code actions, asks in every mode."""

from __future__ import annotations

import asyncio

import pytest
from lsprotocol import types
from pygls.exceptions import JsonRpcInvalidParams
from pytest_lsp import client_capabilities

from metaai_ls.testing import FakeAnswer
from tests.conftest import assert_no_secret
from tests.lsp import (
    CLIENTS,
    CODE,
    capabilities_without_progress,
    joined_reports,
    progress_of,
    settings_for,
    start_client,
    stop_client,
    wait_until,
)

REFACTORED = "def double(x):\n    return 2 * x  # 🎉 中\n"
ANSWER = f"Sure! Here it is:\n```python\n{REFACTORED}```\nIt multiplies instead. 👍"


def lsp_range(line: int, character: int, end_line: int, end_character: int) -> dict:
    return {
        "start": {"line": line, "character": character},
        "end": {"line": end_line, "character": end_character},
    }


def selection(client, uri: str, text: str, end_text: str | None = None) -> types.Range:
    document = client.documents[uri].text
    start = document.index(text)
    end = document.index(end_text) if end_text else start + len(text)
    return client.range_of(uri, start, end)


async def test_capabilities(client):
    capabilities = client.initialize_result.capabilities
    assert set(capabilities.execute_command_provider.commands) == {
        "metaai.ask",
        "metaai.cancel",
        "metaai.doctor",
        "metaai.learn",
        "metaai.keep",
        "metaai.discard",
        "metaai.retry",
        "metaai.chat",
        "metaai.conversations",
        "metaai.conversation",
        "metaai.forget",
        "metaai.applyCode",
        "metaai.warmup",
    }
    assert capabilities.code_lens_provider is not None
    assert types.CodeActionKind.QuickFix in capabilities.code_action_provider.code_action_kinds
    assert capabilities.text_document_sync.change == types.TextDocumentSyncKind.Incremental
    expected = "utf-8" if client.client_name == "neovim" else "utf-16"
    assert capabilities.position_encoding == expected


async def test_code_actions_for_a_selection(client):
    doc = client.open("file:///w/a.py", CODE)
    range_ = selection(client, doc.uri, "def double", "\nprint")
    actions = await client.text_document_code_action_async(
        types.CodeActionParams(
            types.TextDocumentIdentifier(doc.uri), range_, types.CodeActionContext(diagnostics=[])
        )
    )
    titles = [a.title for a in actions]
    assert titles == [
        "Meta AI: Explain",
        "Meta AI: Refactor / Improve",
        "Meta AI: Add documentation",
        "Meta AI: Write tests",
    ]
    modes = {a.title: a.command.arguments[0]["mode"] for a in actions}
    assert modes["Meta AI: Explain"] == "insert" and modes["Meta AI: Write tests"] == "chat"
    for action in actions:
        assert isinstance(action, types.CodeAction) and action.kind.startswith("refactor")
        assert action.command.command == "metaai.ask"
        arguments = action.command.arguments[0]
        assert arguments["uri"] == doc.uri and arguments["prompt"]
        assert arguments["range"] == {
            "start": {"line": range_.start.line, "character": range_.start.character},
            "end": {"line": range_.end.line, "character": range_.end.character},
        }


async def test_fix_is_offered_when_diagnostics_touch_the_selection(client):
    doc = client.open("file:///w/a.py", CODE)
    range_ = selection(client, doc.uri, "def double", "\nprint")
    inside = types.Diagnostic(
        types.Range(types.Position(2, 4), types.Position(2, 10)), "use 2 * x", source="lint"
    )
    outside = types.Diagnostic(types.Range(types.Position(4, 0), types.Position(4, 5)), "far away")
    context = types.CodeActionContext(diagnostics=[inside, outside])
    actions = await client.text_document_code_action_async(
        types.CodeActionParams(types.TextDocumentIdentifier(doc.uri), range_, context)
    )
    fix = actions[0]
    assert fix.title == "Meta AI: Fix" and fix.kind == "quickfix.metaai"
    assert list(fix.diagnostics) == [inside] and fix.is_preferred
    assert fix.command.arguments[0]["diagnostics"] == ["line 3: lint: use 2 * x"]
    only = types.CodeActionContext(diagnostics=[inside], only=[types.CodeActionKind.QuickFix])
    filtered = await client.text_document_code_action_async(
        types.CodeActionParams(types.TextDocumentIdentifier(doc.uri), range_, only)
    )
    assert [a.title for a in filtered] == ["Meta AI: Fix"]


async def test_no_actions_for_an_empty_selection_or_unknown_document(client):
    doc = client.open("file:///w/a.py", CODE)
    point = types.Range(types.Position(1, 0), types.Position(1, 0))
    for uri in (doc.uri, "file:///w/unknown.py"):
        params = types.CodeActionParams(
            types.TextDocumentIdentifier(uri), point, types.CodeActionContext(diagnostics=[])
        )
        assert await client.text_document_code_action_async(params) is None


async def test_replace_streams_the_code_into_the_selection(client, fake):
    fake.answers.append(FakeAnswer(ANSWER))
    fake.chunk_size = 4
    doc = client.open("file:///w/a.py", CODE)
    range_ = selection(client, doc.uri, "def double", "\nprint")
    result = await client.ask(uri=doc.uri, range=range_, prompt="simplify", mode="replace")
    assert result == {"text": ANSWER}
    assert doc.text == CODE.replace("def double(x):\n    return x+x  # 🎉\n", REFACTORED)
    assert len(client.applied_edits) >= 1
    values = progress_of(client)
    assert isinstance(values[0], types.WorkDoneProgressBegin)
    assert values[0].title == "Meta AI: Replace" and values[0].message == "simplify"
    assert isinstance(values[-1], types.WorkDoneProgressEnd)
    assert_readable_alone(values, ANSWER)


def assert_readable_alone(values: list, answer: str) -> None:
    """Each report is one line of the answer (its end when long), readable without the
    others; the last is the answer's last line."""
    reports = [v.message for v in values if isinstance(v, types.WorkDoneProgressReport)]
    lines = [" ".join(line.split()) for line in answer.splitlines() if line.strip()]
    assert reports
    for message in reports:
        assert "\n" not in message and len(message) <= 80
        tail = message.removeprefix("…")  # the end of a long line (it may still grow)
        assert any(tail in line for line in lines), message
    assert reports[-1] == lines[-1][-80:] or reports[-1].endswith(lines[-1][-79:])


async def test_replace_without_a_fence_uses_the_whole_answer(client, fake):
    fake.answers.append(FakeAnswer("2 * x"))
    doc = client.open("file:///w/a.py", CODE)
    range_ = selection(client, doc.uri, "x+x")
    await client.ask(uri=doc.uri, range=range_, prompt="better", mode="replace")
    assert doc.text == CODE.replace("x+x", "2 * x")


async def test_insert_puts_the_answer_below_as_a_comment(client, fake):
    fake.answers.append(FakeAnswer("Doubles x.\nUses addition 😀."))
    doc = client.open("file:///w/a.py", CODE)
    range_ = selection(client, doc.uri, "    return x+x  # 🎉")
    result = await client.ask(uri=doc.uri, range=range_, prompt="explain", mode="insert")
    assert result["text"] == "Doubles x.\nUses addition 😀."
    comment = "    # Doubles x.\n    # Uses addition 😀.\n"
    assert doc.text == CODE.replace("# 🎉\n", "# 🎉\n" + comment)


async def test_insert_at_the_end_of_a_file_without_a_newline(client, fake):
    fake.answers.append(FakeAnswer("Ends here."))
    doc = client.open("file:///w/a.rs", "fn main() {}", language="rust")
    await client.ask(uri=doc.uri, range=selection(client, doc.uri, "fn"), prompt="?", mode="insert")
    assert doc.text == "fn main() {}\n// Ends here.\n"


async def test_chat_changes_nothing(client, fake):
    fake.answers.append(FakeAnswer("Just talk."))
    doc = client.open("file:///w/a.py", CODE)
    result = await client.ask(
        uri=doc.uri, range=selection(client, doc.uri, "def"), prompt="hi", mode="chat"
    )
    assert result == {"text": "Just talk."}
    assert doc.text == CODE and client.applied_edits == []


@pytest.mark.parametrize("client_name", CLIENTS)
async def test_with_progress_deltas_the_reports_join_to_the_answer_and_are_coalesced(
    fake, cookie_file, tmp_path, client_name
):
    answer = "".join(f"line {n} ✓ 中\n" for n in range(200))
    fake.answers.append(FakeAnswer(answer))
    fake.chunk_size, fake.interval = 3, 0.001
    settings = settings_for(fake, cookie_file, progressDeltas=True)
    client = await start_client(client_capabilities(client_name), settings, str(tmp_path))
    try:
        doc = client.open("file:///w/a.py", CODE)
        result = await client.ask(uri=doc.uri, prompt="count", mode="chat")
        values = progress_of(client)
        assert result["text"] == answer == joined_reports(values)
        reports = [v for v in values if isinstance(v, types.WorkDoneProgressReport)]
        assert all(r.message for r in reports)
        assert len(reports) < len(answer) / fake.chunk_size / 2  # coalesced, not one per chunk
    finally:
        await stop_client(client)


async def test_by_default_each_report_is_the_answers_last_line(client, fake):
    long_line = "word " * 40
    answer = "".join(f"line {n} ✓ 中\n" for n in range(50)) + f"```py\n{long_line}\n```\nbye"
    fake.answers.append(FakeAnswer(answer))
    fake.chunk_size, fake.interval = 3, 0.001
    doc = client.open("file:///w/a.py", CODE)
    await client.ask(uri=doc.uri, prompt="count", mode="chat")
    values = progress_of(client)
    assert_readable_alone(values, answer)
    assert values[0].title == "Meta AI: Ask"


async def test_no_progress_for_a_client_without_the_capability(fake, cookie_file, tmp_path):
    client = await start_client(
        capabilities_without_progress("visual_studio_code"),
        settings_for(fake, cookie_file),
        str(tmp_path),
    )
    try:
        fake.answers.append(FakeAnswer(ANSWER))
        doc = client.open("file:///w/a.py", CODE)
        range_ = selection(client, doc.uri, "def double", "\nprint")
        result = await client.ask(uri=doc.uri, range=range_, prompt="x", mode="replace")
        assert result["text"] == ANSWER and REFACTORED in doc.text
        assert client.progress_reports == {}
    finally:
        await stop_client(client)


async def test_follow_up_on_the_same_document_continues_the_conversation(client, fake):
    a = client.open("file:///w/a.py", CODE)
    b = client.open("file:///w/b.py", CODE)
    await client.ask(uri=a.uri, prompt="one", mode="chat")
    await client.ask(uri=a.uri, prompt="two", mode="chat")
    await client.ask(uri=b.uri, prompt="three", mode="chat")
    await client.ask(uri=a.uri, prompt="four", mode="chat", newConversation=True)
    ids = [m.conversation_id for m in fake.sent_messages()]
    assert ids[0] == ids[1] and len({ids[0], ids[2], ids[3]}) == 3


async def test_the_prompt_holds_instruction_selection_and_context(client, fake):
    doc = client.open("file:///w/calc.py", CODE)
    range_ = selection(client, doc.uri, "    return x+x  # 🎉")
    await client.ask(
        uri=doc.uri,
        range=range_,
        prompt="why {language}?",
        mode="replace",
        diagnostics=["line 3: too clever"],
    )
    prompt = fake.sent_messages()[0].prompt
    assert prompt.startswith("System: You are Meta AI")
    assert "exactly one fenced code block" in prompt
    assert "User: why python?" in prompt
    assert "File: calc.py (language: python)" in prompt
    assert "- line 3: too clever" in prompt
    assert "Selected code:\n```python\n    return x+x  # 🎉\n```" in prompt
    assert "def double(x):\n```" in prompt  # context before
    assert "print(double(2))" in prompt  # context after
    assert prompt.endswith("\nAssistant:")


async def test_concurrent_asks_each_land_in_their_own_document(client, fake):
    fake.interval = 0.002
    docs = [client.open(f"file:///w/{n}.py", CODE) for n in range(4)]
    for n in range(4):
        fake.answers.append(FakeAnswer(f"```\nresult {n} 🎉\n```"))
    results = await asyncio.gather(
        *(
            client.ask(uri=d.uri, range=selection(client, d.uri, "x+x"), prompt="p", mode="replace")
            for d in docs
        )
    )
    written = sorted(d.text for d in docs)
    assert written == sorted(CODE.replace("x+x", f"result {n} 🎉") for n in range(4))
    assert len(results) == 4 and len(client.progress_reports) == 4


@pytest.mark.parametrize(
    ("arguments", "words"),
    [
        ({"uri": "file:///w/nope.py", "prompt": "p", "mode": "chat"}, "is not open"),
        ({"uri": "file:///w/a.py", "mode": "chat"}, "`prompt` must be a non-empty string"),
        ({"uri": "file:///w/a.py", "prompt": "p", "mode": "shout"}, "`mode` must be one of"),
        ({"uri": "file:///w/a.py", "prompt": "p", "range": "all"}, "`range` must be an LSP range"),
        ({"uri": 5, "prompt": "p"}, "`uri` must be"),
        (
            {"uri": "file:///w/a.py", "prompt": "p", "range": lsp_range(0, 1.5, 0, 2)},
            "`range` positions must be whole numbers",
        ),
        (
            {"uri": "file:///w/a.py", "prompt": "p", "newConversation": "yes"},
            "`newConversation` must be true or false",
        ),
        (
            {"uri": "file:///w/a.py", "prompt": "p", "range": lsp_range(0, 0, 40, 0)},
            "`range.end` (line 40, character 0) is outside the document, which has 6 lines",
        ),
        (
            {"uri": "file:///w/a.py", "prompt": "p", "range": lsp_range(6, 0, 6, 0)},
            "`range.start` (line 6, character 0) is outside",
        ),
        (
            {"uri": "file:///w/a.py", "prompt": "p", "range": lsp_range(2, 0, 1, 0)},
            "ends before it starts",
        ),
    ],
)
async def test_bad_arguments_are_invalid_params_and_the_server_carries_on(
    client, fake, arguments, words
):
    client.open("file:///w/a.py", CODE)
    with pytest.raises(JsonRpcInvalidParams) as error:
        await client.ask(**arguments)
    assert words in error.value.message
    assert (await client.ask(uri="file:///w/a.py", prompt="still there?", mode="chat"))["text"]


async def test_closed_document_is_refused(client):
    client.open("file:///w/a.py", CODE)
    client.close("file:///w/a.py")
    with pytest.raises(JsonRpcInvalidParams, match="is not open"):
        await client.ask(uri="file:///w/a.py", prompt="p", mode="chat")


async def test_user_actions_from_configuration(fake, cookie_file, tmp_path):
    action = {
        "id": "shout",
        "title": "Make it loud",
        "prompt": "Uppercase {selection} in {file}",
        "mode": "replace",
        "kind": "refactor.rewrite.loud",
    }
    client = await start_client(
        __import__("pytest_lsp").client_capabilities("neovim"),
        settings_for(fake, cookie_file, actions=[action, {"id": "broken"}], contextLines="many"),
        str(tmp_path),
    )
    try:
        doc = client.open("file:///w/a.py", CODE)
        range_ = selection(client, doc.uri, "x+x")
        actions = await client.text_document_code_action_async(
            types.CodeActionParams(
                types.TextDocumentIdentifier(doc.uri),
                range_,
                types.CodeActionContext(diagnostics=[]),
            )
        )
        loud = actions[-1]
        assert loud.title == "Meta AI: Make it loud" and loud.kind == "refactor.rewrite.loud"
        fake.answers.append(FakeAnswer("```\nX+X\n```"))
        assert await client.ask(**loud.command.arguments[0]) == {"started": True}
        await wait_until(lambda: doc.text == CODE.replace("x+x", "X+X"))
        prompt = fake.sent_messages()[0].prompt
        assert "User: Uppercase x+x in a.py" in prompt
        warnings = [m.message for m in client.messages if m.type == types.MessageType.Warning]
        assert any("metaai.actions[1]" in w for w in warnings)
        assert any(
            w.startswith("metaai.contextLines must be a whole number; using the default (20)")
            for w in warnings
        )
    finally:
        await stop_client(client)


async def test_unset_settings_sent_as_empty_strings_are_defaults(fake, cookie_file, tmp_path):
    """VS Code's pulled configuration holds "" for every string setting left unset."""
    from pytest_lsp import client_capabilities

    empty = {"protocol": "", "proxy": "", "apiUrl": "", "apiKeyFile": "", "model": ""}
    client = await start_client(
        client_capabilities("visual_studio_code"),
        settings_for(fake, cookie_file, **empty),
        str(tmp_path),
    )
    try:
        doc = client.open("file:///w/a.py", CODE)
        result = await client.ask(uri=doc.uri, prompt="hi", mode="chat")
        assert "error" not in result
        assert [m.message for m in client.messages] == []
    finally:
        await stop_client(client)


async def test_workspace_configuration_is_read_and_followed(fake, cookie_file, tmp_path):
    from pytest_lsp import client_capabilities

    client = await start_client(client_capabilities("neovim"), {}, str(tmp_path))
    try:
        client.set_configuration(
            settings_for(fake, cookie_file, contextLines=0)["metaai"], section="metaai"
        )
        client.workspace_did_change_configuration(types.DidChangeConfigurationParams(settings=None))
        doc = client.open("file:///w/a.py", CODE)
        await wait_until(lambda: True)
        await asyncio.sleep(0.2)
        range_ = selection(client, doc.uri, "x+x")
        result = await client.ask(uri=doc.uri, range=range_, prompt="p", mode="chat")
        assert result["text"].startswith("Meta AI (offline fake)")
        prompt = fake.sent_messages()[0].prompt
        assert "Code before the selection:\n```python\n    return \n```" in prompt
        assert "def double" not in prompt and "print(double(2))" not in prompt  # contextLines=0
    finally:
        await stop_client(client)


async def test_secrets_stay_out_of_everything_the_client_sees(client, fake, capfd):
    fake.scenario = "unauthorized"
    doc = client.open("file:///w/a.py", CODE)
    await client.ask(uri=doc.uri, prompt="p", mode="chat")
    fake.scenario = "sources"
    result = await client.ask(uri=doc.uri, prompt="p", mode="chat")
    seen = [m.message for m in client.messages + client.log_messages]
    seen += [repr(v) for values in client.progress_reports.values() for v in values]
    assert client.log_messages and fake.sent_messages()
    assert_no_secret(repr(result), *seen, capfd.readouterr().err)
