from __future__ import annotations

import json
import logging
import os
import secrets
import sys
from pathlib import Path

import pytest
import pytest_asyncio

from metaai_ls.testing import FakeMetaAI

# Cookie values unique to this run: any appearance in a log or message is a leak.
SECRET_SESSION = "sess-" + secrets.token_hex(12)
SECRET_DATR = "datr-" + secrets.token_hex(12)
SECRETS = (SECRET_SESSION, SECRET_DATR)

for name in list(os.environ):
    if name.startswith(("METAAI_", "META_")) or name == "MODEL_API_KEY":
        os.environ.pop(name, None)
# The fake gateway does not debounce new streams unless a test asks it to, so the tests
# skip the client's 350 ms wait after opening one (tests/test_gateway.py checks the wait).
FAST_IDENTIFIERS = str(Path(__file__).with_name("identifiers-fast.json"))
os.environ["METAAI_IDENTIFIERS"] = FAST_IDENTIFIERS


@pytest.fixture(autouse=True)
def no_cookie_value_in_any_output(caplog: pytest.LogCaptureFixture, capfd: pytest.CaptureFixture):
    """Every test runs with DEBUG logging; no cookie value may show up anywhere, including
    the stderr of the language servers the test started."""
    caplog.set_level(logging.DEBUG)
    yield
    out, err = capfd.readouterr()
    sys.stdout.write(out)  # keep it for pytest's report
    sys.stderr.write(err)
    assert_no_secret(caplog.text, out, err)


@pytest_asyncio.fixture
async def fake():
    async with FakeMetaAI() as server:
        yield server


@pytest_asyncio.fixture
async def abra_fake():
    async with FakeMetaAI(dialect="abra") as server:
        yield server


@pytest.fixture
def cookies() -> dict[str, str]:
    return {"ecto_1_sess": SECRET_SESSION, "datr": SECRET_DATR}


@pytest.fixture
def abra_cookies() -> dict[str, str]:
    return {"abra_sess": SECRET_SESSION, "datr": SECRET_DATR}


@pytest.fixture
def cookie_file(tmp_path: Path, cookies: dict[str, str]) -> Path:
    path = tmp_path / "cookies.json"
    path.write_text(json.dumps(cookies))
    path.chmod(0o600)
    return path


@pytest.fixture
def fake_env(fake: FakeMetaAI, monkeypatch: pytest.MonkeyPatch) -> FakeMetaAI:
    """Point the provider at the fake through the documented environment variables."""
    for name, value in fake.environment().items():
        monkeypatch.setenv(name, value)
    return fake


@pytest.fixture(autouse=True)
def private_history(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Each test (and every process it starts) keeps its conversations to itself."""
    folder = tmp_path / "state"
    monkeypatch.setenv("XDG_STATE_HOME", str(folder))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))  # no learned values
    return folder / "metaai-ls"


@pytest.fixture(autouse=True)
def fresh_token_cache():
    """Each test starts without access tokens or gateway sockets kept by an earlier one."""
    from metaai_ls.provider.home import TOKENS
    from metaai_ls.provider.sockets import POOL

    TOKENS._tokens.clear()
    POOL.forget_all()  # sockets of an earlier test's loop (closed when that loop ended)


def assert_no_secret(*texts: str) -> None:
    for text in texts:
        for secret in SECRETS:
            assert secret not in text, "a cookie value leaked"


from tests.lsp import client  # noqa: E402, F401  (the end-to-end client fixture)
