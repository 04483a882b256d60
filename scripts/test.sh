#!/usr/bin/env bash
# Everything from nothing: the VS Code extension (type-check, lint, unit tests, .vsix), then a
# virtual environment with the package and its test tools, lint, and the Python test suite
# (provider, server, CLI, the Neovim plugin in a real headless Neovim, Emacs eglot, and the
# extension in a real VS Code driven by Playwright).
set -euo pipefail
cd "$(dirname "$0")/.."

(cd editors/vscode && npm ci --no-audit --no-fund --loglevel=error && npm run -s check && npm run -s package)

python3 -m venv .venv
.venv/bin/python -m pip install -q --disable-pip-version-check -e '.[dev]'
.venv/bin/ruff check metaai_ls tests bench
.venv/bin/ruff format --check metaai_ls tests bench
# The sdist and wheel as published, the wheel installed alone, the offline demo from it.
bash scripts/package-check.sh
.venv/bin/python -m bench.run --quick --json "${TMPDIR:-/tmp}/metaai-ls-bench.json"
# A real VS Code (code-server) and Chromium for tests/test_vscode.py, cached after the first run.
bash scripts/vscode-e2e-install.sh || echo "code-server could not be installed: the real-VS-Code tests will be skipped"
.venv/bin/python -m pytest -q
