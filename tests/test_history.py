"""The shared history on disk: several real processes writing at once, its bounds, its
permissions, and recovery from a damaged index."""

from __future__ import annotations

import json
import subprocess
import sys

from metaai_ls import history
from metaai_ls.history import History, Turn

WRITER = """
import sys
from metaai_ls.history import History, Turn
folder, shared, name, rounds = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
store = History(__import__("pathlib").Path(folder))
for n in range(rounds):
    turns = [Turn("user", f"{name} asks {n}"), Turn("assistant", f"{name} hears {n}")]
    store.add_turns(shared, turns, "account", None)
    if n % 5 == 0:
        store.add_turns(None, [Turn("user", f"{name} alone {n}"), Turn("assistant", "ok")], "api", None)
"""


def test_several_processes_write_at_once_without_losing_a_turn(tmp_path):
    folder = tmp_path / "state"
    store = History(folder)
    shared = store.add_turns(
        None, [Turn("user", "start"), Turn("assistant", "go")], "account", None
    )
    names, rounds = ["vscode", "nvim", "emacs", "terminal"], 25
    processes = [
        subprocess.Popen([sys.executable, "-c", WRITER, str(folder), shared.id, name, str(rounds)])
        for name in names
    ]
    assert [p.wait(timeout=120) for p in processes] == [0] * len(names)
    record = store.get(shared.id)
    assert record is not None and len(record.turns) == 2 + 2 * rounds * len(names)
    for name in names:
        asked = [t.text for t in record.turns if t.text.startswith(f"{name} asks")]
        assert asked == [f"{name} asks {n}" for n in range(rounds)]  # each in its order
    listed = store.list()
    assert len(listed) == 1 + len(names) * (rounds // 5)
    assert {e["id"] for e in listed} == {p.stem for p in (folder / "conversations").iterdir()}
    leftovers = [p.name for p in folder.rglob(".*") if p.name != "history.lock"]
    assert leftovers == []  # no temporary file left behind
    for path in (folder / "conversations").iterdir():
        json.loads(path.read_text())


def test_at_most_200_conversations_the_oldest_dropped(tmp_path):
    store = History(tmp_path)
    ids = [
        store.add_turns(None, [Turn("user", f"question {n}")], "account", None).id
        for n in range(history.MAX_CONVERSATIONS + 5)
    ]
    listed = store.list()
    assert len(listed) == history.MAX_CONVERSATIONS
    assert [e["id"] for e in listed] == ids[:4:-1]  # newest first, the five oldest gone
    assert store.get(ids[0]) is None and store.get(ids[5]) is not None
    assert len(list((tmp_path / "conversations").iterdir())) == history.MAX_CONVERSATIONS


def test_each_turn_is_capped_and_the_title_is_the_first_question(tmp_path):
    store = History(tmp_path)
    long_question = "  Why   is\tthe sky blue? " + "x" * 100 + "\nsecond line"
    huge = "y" * (history.MAX_TURN_CHARS + 10)
    record = store.add_turns(
        None, [Turn("user", long_question), Turn("assistant", huge)], "account", None
    )
    assert record.title.startswith("Why is the sky blue? xxx") and len(record.title) == 80
    stored = store.get(record.id).turns[1].text
    assert stored.startswith("y" * history.MAX_TURN_CHARS)
    assert stored.endswith("[... 10 more characters were not kept ...]")


def test_a_damaged_index_is_rebuilt_and_a_damaged_conversation_skipped(tmp_path):
    store = History(tmp_path)
    first = store.add_turns(None, [Turn("user", "one")], "account", None)
    second = store.add_turns(None, [Turn("user", "two")], "account", None)
    (tmp_path / "index.json").write_text("{not json")
    assert [e["id"] for e in store.list()] == [second.id, first.id]
    (tmp_path / "conversations" / f"{first.id}.json").write_text("garbage")
    assert store.get(first.id) is None
    third = store.add_turns(None, [Turn("user", "three")], "account", None)
    assert [e["id"] for e in store.list()] == [third.id, second.id]


def test_ids_that_are_not_ours_are_unknown(tmp_path):
    store = History(tmp_path)
    for bad in ("../../etc/passwd", "", "F" * 32, "nope"):
        assert store.get(bad) is None and store.forget(bad) is False


def test_the_doors_continue_as_they_can(tmp_path):
    store = History(tmp_path)
    turns = [Turn("user", "q1", prompt="q1 + file"), Turn("assistant", "a1")]
    record = store.add_turns(None, turns, "account", None, meta_id="meta-1", meta_turns=1)
    record = store.add_turns(
        record.id, [Turn("user", "q2"), Turn("assistant", "", error="cut")], "account", None
    )
    conversation, earlier = history.continuation(record, "account")
    assert (conversation.id, conversation.turns, earlier) == ("meta-1", 1, [])
    conversation, earlier = history.continuation(record, "api")
    assert earlier == [] and conversation.history == [
        {"role": "user", "content": "q1 + file"},
        {"role": "assistant", "content": "a1"},
    ]  # the failed exchange is not sent again


def test_a_conversation_keeps_its_latest_turns_within_bounds(tmp_path):
    store = History(tmp_path)
    record = None
    for n in range(history.MAX_TURNS // 2 + 10):
        turns = [Turn("user", f"q{n}"), Turn("assistant", f"a{n}")]
        record = store.add_turns(record.id if record else None, turns, "account", None)
    kept = store.get(record.id).turns
    assert len(kept) == history.MAX_TURNS and kept[0].text == "q10" and kept[-1].text == "a209"
    big = "z" * history.MAX_TURN_CHARS
    for _ in range(history.MAX_CONVERSATION_CHARS // history.MAX_TURN_CHARS):
        store.add_turns(record.id, [Turn("user", big)], "account", None)
    kept = store.get(record.id).turns
    assert sum(len(t.text) for t in kept) <= history.MAX_CONVERSATION_CHARS
    assert kept[-1].text == big
