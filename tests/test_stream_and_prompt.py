from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from metaai_ls.provider import (
    ImageResponse,
    ResponseErrorsError,
    SomethingWentWrongError,
    Source,
    Sources,
    format_prompt,
)
from metaai_ls.provider.stream import AnswerStream


def line(snippet: str, state: str = "STREAMING", **extra) -> bytes:
    message = {"snippet": snippet, "streaming_state": state, **extra}
    return json.dumps({"data": {"node": {"bot_response_message": message}}}).encode()


def test_single_message_passes_through_as_its_text():
    assert format_prompt([{"role": "user", "content": "Привет, как дела?"}]) == "Привет, как дела?"


def test_conversation_keeps_roles_and_ends_with_assistant_turn():
    messages = [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Hi"},
        {"role": "assistant", "content": "Hello"},
        {"role": "user", "content": [{"type": "text", "text": "Again"}]},
    ]
    assert format_prompt(messages) == (
        "System: Be brief.\nUser: Hi\nAssistant: Hello\nUser: Again\nAssistant:"
    )


def test_cumulative_snippets_become_deltas_that_join_to_the_answer():
    stream = AnswerStream()
    deltas = []
    for snippet in ["He", "Hello 👋", "Hello 👋 wörld\r\n", "Hello 👋 wörld\r\n"]:
        deltas += stream.feed(line(snippet))
    deltas += stream.feed(line("Hello 👋 wörld\r\n日本", "OVERALL_DONE"))
    assert deltas == ["He", "llo 👋", " wörld\r\n", "日本"]
    assert stream.done and stream.text == "Hello 👋 wörld\r\n日本"


def test_blank_garbage_and_unrelated_lines_are_skipped():
    stream = AnswerStream()
    results = []
    for raw in [b"", b"   ", b"not json", b"[1,2]", b'{"data": {}}', line("ok", "OVERALL_DONE")]:
        results += stream.feed(raw)
    assert results == ["ok"]
    assert stream.lines_skipped == 2


def test_errors_line_raises_with_meta_messages():
    with pytest.raises(ResponseErrorsError) as error:
        AnswerStream().feed(b'{"errors": [{"message": "field_exception"}]}')
    assert "field_exception" in str(error.value)


def test_error_page_raises():
    with pytest.raises(SomethingWentWrongError):
        AnswerStream().feed(b"<html><h1>Something Went Wrong</h1></html>")


def test_final_image_and_fetch_id():
    stream = AnswerStream()
    media = [{"uri": "https://x/1.jpg", "prompt": "a [cat]"}, {"uri": "https://x/2.jpg"}]
    card = {"session": {"media_sets": [{"imagine_media": []}, {"imagine_media": media}]}}
    results = stream.feed(line("Here", "OVERALL_DONE", imagine_card=card, fetch_id="f1"))
    assert results[0] == "Here"
    assert results[1] == ImageResponse(("https://x/1.jpg", "https://x/2.jpg"), "a [cat]")
    assert str(results[1]) == "\n\n![a (cat)](https://x/1.jpg)\n![a (cat)](https://x/2.jpg)"
    assert stream.fetch_id == "f1"


def test_sources_render_as_markdown_links():
    sources = Sources((Source("Python", "https://python.org"), Source("", "https://x.org")))
    assert (
        str(sources)
        == "\n\nSources:\n- [Python](https://python.org)\n- [https://x.org](https://x.org)"
    )


def feed_all(lines: list[bytes]) -> tuple[list, AnswerStream]:
    stream = AnswerStream()
    return [r for raw in lines for r in stream.feed(raw)], stream


@settings(deadline=None)  # a property, not a timing: a loaded machine must not fail it
@given(st.lists(st.text(alphabet='ab"\\\n😀中é/\u2028', max_size=6), min_size=1, max_size=12))
def test_tail_decoding_equals_whole_decoding(pieces):
    """Lines decoded from the tail give exactly the deltas whole parsing gives."""
    snippets = ["".join(pieces[: n + 1]) for n in range(len(pieces))]
    states = ["STREAMING"] * (len(snippets) - 1) + ["OVERALL_DONE"]
    for ensure_ascii in (True, False):
        lines = [
            json.dumps(
                {
                    "data": {
                        "node": {
                            "bot_response_message": {
                                "id": "m",
                                "streaming_state": state,
                                "snippet": snippet,
                                "fetch_id": None,
                            }
                        }
                    }
                },
                ensure_ascii=ensure_ascii,
            ).encode()
            for snippet, state in zip(snippets, states, strict=True)
        ]
        results, stream = feed_all(lines)
        assert "".join(results) == snippets[-1] == stream.text
        assert all(results) and stream.done


def test_a_snippet_key_elsewhere_in_the_line_is_not_mistaken_for_the_answer():
    def raw(snippet: str, state: str = "STREAMING") -> bytes:
        decoy = {"snippet": "decoy", "x": 1}
        message = {"meta": decoy, "snippet": snippet, "streaming_state": state}
        return json.dumps({"data": {"node": {"bot_response_message": message}}}).encode()

    results, stream = feed_all([raw("Hel"), raw("Hello"), raw("Hello!", "OVERALL_DONE")])
    assert results == ["Hel", "lo", "!"] and stream.done


def test_changing_fields_before_the_snippet_fall_back_to_whole_parsing():
    lines = [line("a", id=f"{n}") for n in range(1)] + [
        json.dumps(
            {
                "data": {
                    "node": {
                        "bot_response_message": {
                            "id": str(n),
                            "streaming_state": "STREAMING",
                            "snippet": "ab"[: n + 1] + "c" * n,
                        }
                    }
                }
            }
        ).encode()
        for n in range(1, 3)
    ]
    results, _ = feed_all(lines)
    assert "".join(results) == "abcc"
