"""Conversations end to end, as an outside pytest-lsp suite drives them: chat, follow up,
list, reopen, forget; references reaching the fake exactly, nothing from outside the
workspace; metaai.applyCode."""

from __future__ import annotations

import asyncio
import os
import subprocess

import pytest
import pytest_asyncio
from lsprotocol import types
from pygls.exceptions import JsonRpcInvalidParams
from pytest_lsp import client_capabilities

from metaai_ls.testing import FakeAnswer
from tests.lsp import CLIENTS, progress_of, settings_for, start_client, stop_client, wait_until

HELPER = "def helper(x):\n    return x * 3  # 中文 😀\n"


@pytest.fixture
def workspace(tmp_path):
    folder = tmp_path / "work"
    (folder / "src").mkdir(parents=True)
    (folder / "src" / "helper.py").write_text(HELPER)
    (folder / "notes.md").write_text("# Notes\n\nkeep it small\n")
    return folder


@pytest_asyncio.fixture(params=CLIENTS)
async def chat_client(request, fake, cookie_file, tmp_path, workspace):
    lsp = await start_client(
        client_capabilities(request.param),
        settings_for(fake, cookie_file),
        str(tmp_path),
        folder=str(workspace),
    )
    lsp.client_name = request.param
    yield lsp
    await stop_client(lsp)


def prompts(fake) -> list[str]:
    return [m.prompt for m in fake.sent_messages()]


async def test_chat_follow_up_list_reopen_forget(chat_client, fake):
    fake.answers.extend([FakeAnswer("A monad chains steps."), FakeAnswer("In Haskell: >>=.")])
    first = await chat_client.chat(message="What does a monad do?")
    assert first["text"] == "A monad chains steps." and "error" not in first
    conversation = first["conversation"]
    second = await chat_client.chat(message="and in Haskell?", conversation=conversation)
    assert second == {"conversation": conversation, "text": "In Haskell: >>=."}
    sent = fake.sent_messages()
    assert sent[0].conversation_id == sent[1].conversation_id  # continued at Meta
    assert sent[1].fields["entry_point"] != sent[0].fields["entry_point"]  # as a follow-up
    assert "What does a monad do?" not in sent[1].prompt  # Meta keeps the turns itself

    other = await chat_client.chat(message="Something else")
    listed = await chat_client.command("metaai.conversations")
    assert [c["id"] for c in listed] == [other["conversation"], conversation]
    assert listed[1]["title"] == "What does a monad do?" and listed[1]["turns"] == 4
    shown = await chat_client.command("metaai.conversation", {"id": conversation})
    assert shown["id"] == conversation and shown["title"] == "What does a monad do?"
    assert [(t["role"], t["text"]) for t in shown["turns"]] == [
        ("user", "What does a monad do?"),
        ("assistant", "A monad chains steps."),
        ("user", "and in Haskell?"),
        ("assistant", "In Haskell: >>=."),
    ]
    assert await chat_client.command("metaai.forget", {"id": conversation}) == {"forgotten": 1}
    listed = await chat_client.command("metaai.conversations")
    assert [c["id"] for c in listed] == [other["conversation"]]
    with pytest.raises(JsonRpcInvalidParams, match="no conversation"):
        await chat_client.command("metaai.conversation", {"id": conversation})
    assert await chat_client.command("metaai.forget", {"all": True}) == {"forgotten": 1}
    assert await chat_client.command("metaai.conversations") == []


async def test_chat_streams_like_ask(chat_client, fake):
    answer = "First line\n```python\nprint('hi')\n```\nLast line here."
    fake.answers.append(FakeAnswer(answer))
    fake.chunk_size = 4
    result = await chat_client.chat(message="say hi")
    assert result["text"] == answer
    values = progress_of(chat_client)
    assert isinstance(values[0], types.WorkDoneProgressBegin)
    assert values[0].title == "Meta AI: Chat" and values[0].message == "say hi"
    assert isinstance(values[-1], types.WorkDoneProgressEnd) and values[-1].message == "Done"
    reports = [v.message for v in values if isinstance(v, types.WorkDoneProgressReport)]
    assert reports and all("\n" not in m for m in reports)
    assert reports[-1] == "Last line here."


async def test_a_closed_file_and_a_tagged_file_reach_the_fake_exactly(chat_client, fake, workspace):
    uri = (workspace / "src" / "helper.py").as_uri()
    await chat_client.chat(message="Explain it", references=[{"uri": uri}])
    await chat_client.chat(message="What is in #file:notes.md please?")
    first, second = prompts(fake)
    assert f"File `src/helper.py`:\n```python\n{HELPER}```" in first
    assert "File `notes.md`:\n```markdown\n# Notes\n\nkeep it small\n```" in second
    listed = await chat_client.command("metaai.conversations")
    shown = await chat_client.command("metaai.conversation", {"id": listed[1]["id"]})
    assert shown["turns"][0]["references"] == ["src/helper.py"]
    assert shown["turns"][0]["text"] == "Explain it"  # the message, not the prompt


async def test_an_open_documents_selection_with_unsaved_text(chat_client, fake, workspace):
    path = workspace / "src" / "helper.py"
    doc = chat_client.open(path.as_uri(), HELPER.replace("3", "4"))  # unsaved in the editor
    start = doc.text.index("return")
    range_ = chat_client.range_of(doc.uri, start, doc.text.index("  #"))
    await chat_client.chat(message="Why #selection?", uri=doc.uri, range=range_)
    (prompt,) = prompts(fake)
    assert "File `src/helper.py`, lines 2-2:\n```python\nreturn x * 4\n```" in prompt


@pytest.mark.parametrize(
    ("make", "words"),
    [
        ("outside", "outside the workspace folders"),
        ("symlink", "is a symlink to a place outside the workspace folders"),
        ("huge", "is 50.0 MB, larger than the 4 MB"),
        ("binary", "is a binary file"),
        ("missing", "was not found in the workspace folders"),
    ],
)
async def test_bad_references_are_clear_errors_and_change_nothing(
    chat_client, fake, workspace, tmp_path, make, words
):
    secret = tmp_path / "secret.txt"
    secret.write_text("top secret")
    if make == "symlink":
        (workspace / "link.txt").symlink_to(secret)
    elif make == "huge":
        with open(workspace / "link.txt", "wb") as file:
            file.truncate(50 << 20)
            file.seek(0)
            file.write(b"x")
    elif make == "binary":
        (workspace / "link.txt").write_bytes(b"\x7fELF\x00\x01\x02")
    reference = "#file:../secret.txt" if make == "outside" else "#file:link.txt"
    if make == "missing":
        reference = "#file:nowhere.txt"
    with pytest.raises(JsonRpcInvalidParams, match=words):
        await chat_client.chat(message=f"read {reference}")
    with pytest.raises(JsonRpcInvalidParams, match="outside the workspace folders"):
        await chat_client.chat(message="read it", references=[{"uri": secret.as_uri()}])
    assert fake.sent_messages() == []
    assert await chat_client.command("metaai.conversations") == []


async def test_unknown_conversation_and_bad_arguments(chat_client, fake):
    with pytest.raises(JsonRpcInvalidParams, match="no conversation 'f00'"):
        await chat_client.chat(message="hi", conversation="f00")
    for bad in (
        {},
        {"message": ""},
        {"message": "hi", "references": "x"},
        {"message": "hi #selection"},
    ):
        with pytest.raises(JsonRpcInvalidParams):
            await chat_client.command("metaai.chat", bad)
    assert fake.sent_messages() == []


async def test_diff_and_diagnostics_references(chat_client, fake, workspace):
    def git(*arguments: str) -> None:
        subprocess.run(["git", "-C", str(workspace), *arguments], check=True, capture_output=True)

    git("init", "-q")
    git("-c", "user.name=t", "-c", "user.email=t@t", "add", ".")
    git("-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "one")
    (workspace / "notes.md").write_text("# Notes\n\nkeep it tiny\n")
    uri = (workspace / "src" / "helper.py").as_uri()
    diagnostic = {
        "range": {"start": {"line": 1, "character": 4}, "end": {"line": 1, "character": 10}},
        "message": "magic number",
        "source": "lint",
    }
    await chat_client.chat(
        message="Review #diff", references=[{"diagnostics": uri, "items": [diagnostic]}]
    )
    (prompt,) = prompts(fake)
    assert "-keep it small\n+keep it tiny" in prompt
    assert "The output of `git diff` in the workspace folder `work`:\n```diff\n" in prompt
    assert "Problems reported in `src/helper.py`:\n- line 2: lint: magic number" in prompt


async def test_a_long_file_is_cut_with_a_note(chat_client, fake, workspace):
    (workspace / "long.txt").write_text("y" * 100_000)
    await chat_client.chat(message="#file:long.txt")
    (prompt,) = prompts(fake)
    assert "y" * 64_000 + "\n[... cut here: 36000 more characters were left out ...]" in prompt


async def test_cancel_a_chat(chat_client, fake):
    fake.scenario = "slow"
    fake.answers.append(FakeAnswer("word " * 400))
    task = asyncio.ensure_future(chat_client.chat(message="talk slowly"))
    await fake.wait_for_stream(lambda r: r.first_line_at is not None)
    await chat_client.command("metaai.cancel", {})
    result = await asyncio.wait_for(task, 10)
    assert result["cancelled"] is True and result["conversation"]
    await fake.wait_for_stream(lambda r: r.client_gone_at is not None)
    shown = await chat_client.command("metaai.conversation", {"id": result["conversation"]})
    assert shown["turns"][1]["cancelled"] is True


async def test_the_api_door_sends_the_kept_turns(fake, cookie_file, tmp_path, workspace):
    key_file = tmp_path / "key"
    key_file.write_text(fake.api_key)
    key_file.chmod(0o600)
    settings = settings_for(fake, cookie_file, backend="api", apiUrl=fake.api_url)
    settings["metaai"]["apiKeyFile"] = str(key_file)
    client = await start_client(
        client_capabilities("visual_studio_code"), settings, str(tmp_path), folder=str(workspace)
    )
    try:
        fake.answers.extend([FakeAnswer("one"), FakeAnswer("two"), FakeAnswer("three")])
        first = await client.chat(message="first question")
        await client.chat(message="second question", conversation=first["conversation"])
        await client.chat(message="unrelated")
        api = [m.fields["messages"] for m in fake.sent_messages()]
        turns = [(m["role"], m["content"]) for m in api[1] if m["role"] != "system"]
        assert turns == [
            ("user", "first question"),
            ("assistant", "one"),
            ("user", "second question"),
        ]
        assert [m["role"] for m in api[2]] == ["system", "user"]  # a new one: nothing earlier
    finally:
        await stop_client(client)


async def test_apply_code_inserts_and_replaces_in_one_edit(chat_client):
    doc = chat_client.open("file:///w/a.py", "x = 1\ny = 2\n")
    point = chat_client.range_of(doc.uri, 6, 6)
    result = await chat_client.command(
        "metaai.applyCode", {"uri": doc.uri, "range": point, "text": "# 😀 inserted\n"}
    )
    assert result == {"applied": True}
    assert doc.text == "x = 1\n# 😀 inserted\ny = 2\n"
    whole = chat_client.range_of(doc.uri, 0, len("x = 1"))
    await chat_client.command(
        "metaai.applyCode", {"uri": doc.uri, "range": whole, "text": "x = 10"}
    )
    assert doc.text == "x = 10\n# 😀 inserted\ny = 2\n"
    labels = [edit.label for edit in chat_client.applied_edits]
    assert len(labels) == 2 and all(label.startswith("Meta AI #") for label in labels)


async def test_apply_code_errors(chat_client):
    doc = chat_client.open("file:///w/a.py", "x = 1\n")
    far = {"start": {"line": 9, "character": 0}, "end": {"line": 9, "character": 0}}
    result = await chat_client.command(
        "metaai.applyCode", {"uri": doc.uri, "range": far, "text": "z"}
    )
    assert (
        result["applied"] is False and "outside the document, which has 2 lines" in result["error"]
    )
    result = await chat_client.command(
        "metaai.applyCode", {"uri": "file:///w/closed.py", "range": far, "text": "z"}
    )
    assert result["applied"] is False and "is not open in the editor" in result["error"]
    assert doc.text == "x = 1\n" and chat_client.applied_edits == []


async def test_the_history_is_private(chat_client, fake, private_history):
    await chat_client.chat(message="hello")
    await wait_until(lambda: (private_history / "index.json").exists())
    assert os.stat(private_history).st_mode & 0o777 == 0o700
    for path in private_history.rglob("*"):
        expected = 0o700 if path.is_dir() else 0o600
        assert path.stat().st_mode & 0o777 == expected, path


async def test_two_editors_and_a_terminal_share_one_history(fake, cookie_file, tmp_path, workspace):
    """Each editor is its own server process; the history is the source after a restart."""
    from tests.test_cli import run_ask

    def editor(name: str):
        return start_client(
            client_capabilities(name),
            settings_for(fake, cookie_file),
            str(tmp_path),
            folder=str(workspace),
        )

    vscode, nvim = await editor("visual_studio_code"), await editor("neovim")
    try:
        fake.chunk_size, fake.interval = 4, 0.01
        results = await asyncio.gather(
            vscode.chat(message="from VS Code"),
            nvim.chat(message="from Neovim"),
            run_ask(fake, cookie_file, "from the terminal"),
        )
        assert results[2][0] == 0
        listed = await nvim.command("metaai.conversations")
        assert sorted(c["title"] for c in listed) == [
            "from Neovim",
            "from VS Code",
            "from the terminal",
        ]
        started_in_vscode = results[0]["conversation"]
        await stop_client(vscode)
        vscode = await editor("visual_studio_code")  # a reloaded window
        shown = await vscode.command("metaai.conversation", {"id": started_in_vscode})
        assert shown["turns"][0]["text"] == "from VS Code"
        follow_up = await nvim.chat(message="and then?", conversation=started_in_vscode)
        assert follow_up["conversation"] == started_in_vscode
        by_prompt = {m.prompt.rsplit("User: ", 1)[-1]: m for m in fake.sent_messages()}
        first = next(m for p, m in by_prompt.items() if p.startswith("from VS Code"))
        last = next(m for p, m in by_prompt.items() if p.startswith("and then?"))
        assert last.conversation_id == first.conversation_id  # continued at Meta
    finally:
        await stop_client(vscode)
        await stop_client(nvim)


async def test_an_unusable_history_folder_is_named_and_the_answer_stands(
    fake, cookie_file, tmp_path
):
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the state folder should be")
    client = await start_client(
        client_capabilities("neovim"),
        settings_for(fake, cookie_file),
        str(tmp_path),
        env={"XDG_STATE_HOME": str(blocker)},
    )
    try:
        fake.answers.append(FakeAnswer("Still answered."))
        result = await client.chat(message="hello")
        assert result == {"conversation": None, "text": "Still answered."}
        warnings = [m.message for m in client.messages if m.type == types.MessageType.Warning]
        assert any(f"history in {blocker}/metaai-ls cannot be used" in w for w in warnings)
        with pytest.raises(Exception, match="cannot be used"):
            await client.command("metaai.forget", {"all": True})
    finally:
        await stop_client(client)


def test_tags_in_the_message_are_read_as_codecompanion_users_type_them():
    from metaai_ls.server.references import Reference, references_in_message

    point = types.Range(types.Position(1, 0), types.Position(1, 0))
    lines = types.Range(types.Position(1, 0), types.Position(3, 0))
    found = references_in_message(
        "Compare `#file:src/a.py`, #file:b.md? and #selection with #buffer (#diff, #diagnostics)"
        " but not issue#diff or ##selection",
        "file:///w/c.py",
        lines,
    )
    assert found == [
        Reference("file", path="src/a.py"),
        Reference("file", path="b.md"),
        Reference("file", uri="file:///w/c.py", range=lines),
        Reference("file", uri="file:///w/c.py"),
        Reference("diff"),
        Reference("diagnostics", uri="file:///w/c.py"),
    ]
    with pytest.raises(JsonRpcInvalidParams, match="nothing is selected"):
        references_in_message("#selection", "file:///w/c.py", point)
    with pytest.raises(JsonRpcInvalidParams, match="needs the current document"):
        references_in_message("#buffer", None, None)


async def test_warmup_of_a_conversation_of_the_history(fake, cookie_file, tmp_path, workspace):
    """A chat view reopened in another window warms the conversation it shows: the
    follow-up then only sends its message, into Meta's same conversation."""

    def editor():
        return start_client(
            client_capabilities("neovim"),
            settings_for(fake, cookie_file),
            str(tmp_path),
            folder=str(workspace),
        )

    first = await editor()
    started = await first.chat(message="first question")
    await stop_client(first)  # its sockets close with it
    second = await editor()
    try:
        sockets = fake.sockets
        assert (
            await second.command("metaai.warmup", {"conversation": started["conversation"]}) == {}
        )
        await wait_until(lambda: fake.sockets == sockets + 1)
        before = len(fake.sent_messages())
        follow_up = await second.chat(message="and then?", conversation=started["conversation"])
        assert follow_up["conversation"] == started["conversation"]
        assert fake.sockets == sockets + 1  # the warmed socket served the follow-up
        sent = fake.sent_messages()
        assert len(sent) == before + 1 and sent[-1].conversation_id == sent[0].conversation_id
    finally:
        await stop_client(second)
