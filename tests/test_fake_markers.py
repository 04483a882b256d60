"""The fake's scenarios as a user meets them: the README lists exactly those that exist,
and the answer-shaping markers do what the list says on both doors."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from metaai_ls.testing.fake_meta import GLOBAL_ONLY, SCENARIOS
from tests.test_cli import run_ask

README = Path(__file__).parent.parent / "README.md"


def test_the_readme_lists_exactly_the_scenarios_that_exist():
    text = README.read_text()
    section = text[text.index("## The offline fake Meta AI") : text.index("## Layout")]
    rows = re.findall(r"^\| `([a-z_]+)` \| (.+) \| (.+) \|$", section, re.M)
    assert [name for name, _, _ in rows] == list(SCENARIOS)
    for name, described, how in rows:
        assert described == SCENARIOS[name]
        assert ("only" in how) == (name in GLOBAL_ONLY)


@pytest.mark.parametrize("door", ["account", "api"])
async def test_code_and_long_markers_shape_the_answer(fake, cookie_file, tmp_path, door):
    key_file = tmp_path / "key"
    key_file.write_text(fake.api_key)
    flags = ["--backend", "api", "--api-key-file", str(key_file)] if door == "api" else []
    code, out, err = await run_ask(fake, cookie_file, *flags, "[[fake:code]] refactor this")
    assert code == 0, err
    assert re.search(r"```python\n(.+\n)+```", out) and out.count("```") == 2
    code, out, err = await run_ask(fake, cookie_file, *flags, "tell me [[fake:long]]")
    lines = out.splitlines()
    assert code == 0 and len(lines) > 300 and "line 299 of 300" in out and "```python" in out
