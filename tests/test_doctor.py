"""`metaai-ls doctor` and the server's `metaai.doctor`: one line per step, the first
failure with what to do, a non-zero exit then, and never a secret."""

from __future__ import annotations

import asyncio
import os
import sys

import pytest
from lsprotocol import types
from pytest_lsp import client_capabilities

from tests.conftest import assert_no_secret
from tests.lsp import settings_for, start_client, stop_client


async def run_doctor(fake, cookie_file, *args: str) -> tuple[int, str, str]:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "metaai_ls",
        "doctor",
        "--cookies",
        str(cookie_file),
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env={**os.environ, **fake.environment(), "METAAI_READ_TIMEOUT": "1"},
    )
    out, err = await asyncio.wait_for(process.communicate(), 30)
    return process.returncode, out.decode(), err.decode()


async def test_every_step_passes_against_the_fake(fake, cookie_file):
    code, out, err = await run_doctor(fake, cookie_file, "--send")
    lines = out.splitlines()
    names = [line.split(":")[0] for line in lines[:-1]]
    assert code == 0, out + err
    assert names == [
        "✓ cookies",
        "✓ login cookie",
        "✓ home page",
        "✓ dialect",
        "✓ token",
        "✓ gateway",
        "✓ answer",
    ]
    assert "(datr, ecto_1_sess)" in lines[0] and "gateway (told by the home page)" in out
    assert lines[-1] == "All checks passed."
    token = next(r.query["Authorization"] for r in fake.requests if r.path == "/ws/clippy")
    assert token not in out + err
    assert_no_secret(out, err)


@pytest.mark.parametrize(
    ("scenario", "step", "advice"),
    [
        ("geo", "home page", "proxy in a supported country"),
        ("error_page", "home page", "try again"),
        ("expired", "dialect", "Log in at https://www.meta.ai"),
        ("challenge_stays", "home page", "metaai-ls learn FILE.har"),
        ("unauthorized", "gateway handshake", "Log in at https://www.meta.ai"),
        ("rate_limited", "gateway handshake", "after 30 seconds"),
        ("no_ack", "gateway acknowledgement", "METAAI_READ_TIMEOUT"),
    ],
)
async def test_the_first_failure_says_what_to_do(fake, cookie_file, scenario, step, advice):
    fake.scenario = scenario
    code, out, err = await run_doctor(fake, cookie_file)
    lines = out.splitlines()
    failed = [line for line in lines if line.startswith("✗")]
    assert code == 1, out + err
    assert len(failed) == 1 and failed[0].startswith(f"✗ {step}:"), out
    assert advice in out and lines[-1].startswith("A check failed")
    assert_no_secret(out, err)


async def test_a_missing_login_cookie_fails_before_any_request(fake, tmp_path):
    cookie_file = tmp_path / "c.json"
    cookie_file.write_text('{"datr": "x"}')
    cookie_file.chmod(0o600)
    code, out, _ = await run_doctor(fake, cookie_file)
    assert code == 1 and "✗ login cookie" in out and "ecto_1_sess" in out
    assert fake.requests == []


async def test_the_server_offers_the_same_report(fake, cookie_file, tmp_path):
    client = await start_client(
        client_capabilities("neovim"), settings_for(fake, cookie_file), str(tmp_path)
    )
    try:
        result = await client.workspace_execute_command_async(
            types.ExecuteCommandParams(command="metaai.doctor", arguments=[{}])
        )
        assert result["ok"] is True
        assert [s["name"] for s in result["steps"]][-1] == "gateway"
        assert result["report"].splitlines()[0].startswith("✓ cookies: 2 for .meta.ai")
        fake.scenario = "expired"
        result = await client.workspace_execute_command_async(
            types.ExecuteCommandParams(command="metaai.doctor", arguments=[])
        )
        assert result["ok"] is False and result["steps"][-1]["ok"] is False
        assert "Log in" in result["steps"][-1]["help"]
    finally:
        await stop_client(client)
