from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from metaai_ls.provider import CookieFileError, LoginRequiredError, get_cookies, load_cookie_file
from tests.conftest import SECRET_SESSION, assert_no_secret

NETSCAPE = f"""# Netscape HTTP Cookie File
.meta.ai\tTRUE\t/\tTRUE\t1999999999\tdatr\tD1
#HttpOnly_.meta.ai\tTRUE\t/\tTRUE\t1999999999\tabra_sess\t{SECRET_SESSION}
.example.com\tTRUE\t/\tFALSE\t1999999999\tother\tX

"""


def write(tmp_path: Path, content: str | bytes, name: str = "cookies") -> str:
    path = tmp_path / name
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content, encoding="utf-8")
    return str(path)


def test_json_object(tmp_path):
    path = write(tmp_path, json.dumps({"abra_sess": SECRET_SESSION, "datr": "D1"}))
    assert load_cookie_file(path) == {"abra_sess": SECRET_SESSION, "datr": "D1"}


def test_browser_export_list_keeps_meta_ai_cookies_only(tmp_path):
    export = [
        {"name": "abra_sess", "value": SECRET_SESSION, "domain": ".meta.ai", "path": "/"},
        {"name": "datr", "value": "D1", "domain": "www.meta.ai"},
        {"name": "c_user", "value": "1", "domain": ".facebook.com"},
    ]
    path = write(tmp_path, json.dumps(export))
    assert load_cookie_file(path) == {"abra_sess": SECRET_SESSION, "datr": "D1"}


def test_netscape_cookies_txt_with_httponly_lines(tmp_path):
    path = write(tmp_path, NETSCAPE)
    assert load_cookie_file(path) == {"datr": "D1", "abra_sess": SECRET_SESSION}


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        (b"\x00\x01\x02binary\xff", "is binary"),
        (b"\xff\xfe\xfa not utf-8", "is not UTF-8 text"),
        ("", "is empty"),
        ("   \n", "is empty"),
        ('{"abra_sess": "' + SECRET_SESSION + '", ', "is not valid JSON (line 1)"),
        ('{"abra_sess": 5}', "values are not all strings"),
        ("[1, 2]", "entry without a name (entry 1)"),
        ('[{"name": "abra_sess"}]', "without a string value"),
        ('"just a string"', "neither JSON nor a Netscape cookies.txt (line 1)"),
        (f"abra_sess={SECRET_SESSION}", "neither JSON nor a Netscape cookies.txt (line 1)"),
        (
            '[{"name": "x", "value": "y", "domain": ".example.com"}]',
            "holds no cookies for .meta.ai",
        ),
        ("x" * (1 << 20 + 1), "larger than 1 MiB"),
    ],
)
def test_malformed_files_name_the_file_and_the_problem(tmp_path, content, problem):
    path = write(tmp_path, content)
    with pytest.raises(CookieFileError) as error:
        load_cookie_file(path)
    message = str(error.value)
    assert path in message and problem in message
    assert "Netscape" in message  # says what would be accepted
    assert_no_secret(message)


def test_missing_directory_and_unreadable_files(tmp_path):
    with pytest.raises(CookieFileError, match="does not exist"):
        load_cookie_file(str(tmp_path / "nope.json"))
    with pytest.raises(CookieFileError, match="is a directory"):
        load_cookie_file(str(tmp_path))
    path = write(tmp_path, "{}")
    os.chmod(path, 0)
    if os.access(path, os.R_OK):  # root reads anything
        pytest.skip("running as a user that ignores file permissions")
    with pytest.raises(CookieFileError, match="permission denied"):
        load_cookie_file(path)


@pytest.mark.skipif(not shutil.which("setpriv"), reason="needs util-linux setpriv")
def test_unreadable_file_without_the_power_to_override_permissions(tmp_path):
    """As root, drop the capabilities that ignore file permissions, then read."""
    path = write(tmp_path, "{}")
    os.chmod(path, 0)
    drop = "-dac_override,-dac_read_search"
    code = (
        "from metaai_ls.provider import load_cookie_file, CookieFileError\n"
        f"try:\n    load_cookie_file({path!r})\nexcept CookieFileError as e:\n    print(e)\n"
    )
    command = ["setpriv", "--bounding-set", drop, "--inh-caps", drop, sys.executable, "-c", code]
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    assert "cannot be read (permission denied)" in result.stdout, result.stderr


def test_metaai_cookies_env_wins(tmp_path, monkeypatch):
    monkeypatch.setenv("METAAI_COOKIES", write(tmp_path, NETSCAPE))
    assert get_cookies(".meta.ai", True, True)["abra_sess"] == SECRET_SESSION


def test_no_cookies_anywhere_tells_how_to_log_in(tmp_path, monkeypatch):
    monkeypatch.delenv("METAAI_COOKIES", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))  # no browser profiles here
    with pytest.raises(LoginRequiredError) as error:
        get_cookies(".meta.ai", True, True)
    assert "https://www.meta.ai" in str(error.value) and "METAAI_COOKIES" in str(error.value)
    assert get_cookies(".meta.ai", raise_requirements_error=False) == {}
