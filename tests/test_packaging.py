"""One version number and one license for the package, the CLI, the extension and the
changelog (what `scripts/package-check.sh` builds and installs)."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import tomllib

import metaai_ls

ROOT = Path(__file__).resolve().parent.parent


def test_the_cli_the_extensions_and_the_changelog_carry_the_package_version():
    cli = subprocess.run(
        [sys.executable, "-m", "metaai_ls", "--version"], capture_output=True, text=True, check=True
    )
    extension = json.loads((ROOT / "editors/vscode/package.json").read_text())
    released = re.findall(r"^## \[(\d+\.\d+\.\d+)\]", (ROOT / "CHANGELOG.md").read_text(), re.M)
    assert cli.stdout.strip() == f"metaai-ls {metaai_ls.__version__}"
    assert extension["version"] == metaai_ls.__version__
    assert released[0] == metaai_ls.__version__
    emacs = (ROOT / "editors/emacs/metaai.el").read_text()
    assert f"\n;; Version: {metaai_ls.__version__}\n" in emacs


def test_the_package_and_the_extension_are_mit_licensed_with_the_license_text():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    extension = json.loads((ROOT / "editors/vscode/package.json").read_text())
    assert project["license"] == extension["license"] == "MIT"
    assert project["license-files"] == ["LICENSE"]
    assert (ROOT / "LICENSE").read_text().startswith("MIT License")
    assert "version" in project["dynamic"]  # read from metaai_ls.__version__, one place


def test_every_server_setting_is_a_vs_code_setting_the_extension_forwards():
    """VS Code passes on only the settings an extension declares (and the extension sends
    only those in its SERVER_SETTINGS): a server setting missing there cannot be set."""
    from metaai_ls.server.settings import NAMES

    extension = json.loads((ROOT / "editors/vscode/package.json").read_text())
    declared = {
        key.removeprefix("metaai.")
        for key in extension["contributes"]["configuration"]["properties"]
    }
    config = (ROOT / "editors/vscode/src/config.ts").read_text()
    listed = config.split("SERVER_SETTINGS = [", 1)[1].split("]", 1)[0]
    forwarded = set(re.findall(r'"(\w+)"', listed))
    chosen_by_the_extension = {"progressDeltas"}
    assert set(NAMES) - chosen_by_the_extension <= declared
    assert set(NAMES) - chosen_by_the_extension == forwarded
