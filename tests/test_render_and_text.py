from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from metaai_ls.server.render import code_to_write, comment_block
from metaai_ls.server.sync import smallest_edit
from metaai_ls.server.text import TextIndex


def test_first_fenced_block_is_the_replacement():
    answer = "Here:\n```python\nx = 1\n```\nand\n```\ny\n```"
    assert code_to_write(answer, final=True, keep_trailing_newline=True) == "x = 1\n"
    assert code_to_write(answer, final=True, keep_trailing_newline=False) == "x = 1"


def test_no_fence_means_the_whole_answer_at_the_end_only():
    assert code_to_write("just 2", final=False, keep_trailing_newline=False) is None
    assert code_to_write("just 2", final=True, keep_trailing_newline=False) == "just 2"


def test_partial_closing_fence_is_held_back_while_streaming():
    assert code_to_write("```py\nx = 1\n``", final=False, keep_trailing_newline=True) == "x = 1\n"
    assert code_to_write("```py\nx = 1\ny", final=False, keep_trailing_newline=True) == "x = 1\ny"


def test_longer_fence_is_not_closed_by_a_shorter_one():
    answer = "````md\n```\ninner\n```\n````\n"
    assert code_to_write(answer, final=True, keep_trailing_newline=True) == "```\ninner\n```\n"


def test_comment_block_per_language():
    assert comment_block("a\n\nb", "python", "    ", final=True) == "    # a\n    #\n    # b\n"
    assert comment_block("a", "rust", "", final=True) == "// a\n"
    assert comment_block("x --> y", "html", "", final=True) == "<!--\nx - -> y\n-->\n"
    assert comment_block("a", "plaintext", "", final=True) == "a\n"


@given(st.text(alphabet="ab\n `#😀é", max_size=40), st.integers(1, 40))
def test_streamed_comment_is_append_only(answer, cut):
    shorter = comment_block(answer[:cut], "python", "  ", final=False)
    longer = comment_block(answer, "python", "  ", final=False)
    assert longer.startswith(shorter)
    assert comment_block(answer, "python", "  ", final=True).startswith(longer)


@given(st.text(max_size=30), st.text(max_size=30))
def test_smallest_edit_turns_old_into_new(old, new):
    edit = smallest_edit(old, new)
    assert (edit.apply(old) if edit else old) == new


@given(st.text(alphabet="a\n😀é中", max_size=30), st.data())
def test_text_index_round_trips(text, data):
    offset = data.draw(st.integers(0, len(text)))
    for encoding in ("utf-8", "utf-16", "utf-32"):
        index = TextIndex(text, encoding)
        assert index.offset(index.position(offset)) == offset


def test_text_index_counts_utf16_and_utf8_units():
    text = "a😀b\n中x"
    assert TextIndex(text, "utf-16").position(3).character == 4
    assert TextIndex(text, "utf-8").position(3).character == 6
    assert TextIndex(text, "utf-32").position(3).character == 3
    assert TextIndex(text, "utf-8").position(6).line == 1


def test_a_reports_last_line_is_the_end_of_the_answers_last_non_blank_line():
    from metaai_ls.server.progress import LINE_LIMIT, last_line

    assert last_line("first\nthe   last\tline\n\n  \n") == "the last line"
    one_line = "word " * 200_000 + "end"  # an answer without line breaks is one long line
    assert last_line(one_line) == "…" + " ".join(one_line.split())[1 - LINE_LIMIT :]
    assert last_line("short\n" + " " * 1000 + "\n") == "short"
    assert last_line("") == last_line("\n \n") == ""
