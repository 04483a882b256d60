#!/usr/bin/env bash
# The package as a user gets it: an sdist and a wheel built from this tree in an isolated build
# environment, checked by twine, both holding identifiers.json; the wheel installed into a new
# venv with nothing else in it, then `metaai-ls --version` and the offline demo run from there;
# and scripts/install.sh (the README's install) into a throw-away home.
set -euo pipefail
cd "$(dirname "$0")/.."
py=${PYTHON:-.venv/bin/python}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

"$py" -m build --outdir "$work/dist" . >"$work/build.log" 2>&1 || { cat "$work/build.log"; exit 1; }
"$py" -m twine check --strict "$work"/dist/*
"$py" - "$work/dist" <<'PY'
import sys, tarfile, zipfile
from pathlib import Path

dist = Path(sys.argv[1])
(wheel,) = dist.glob("*.whl")
(sdist,) = dist.glob("*.tar.gz")
names = {"wheel": zipfile.ZipFile(wheel).namelist(), "sdist": tarfile.open(sdist).getnames()}
for kind, files in names.items():
    for wanted in ("metaai_ls/provider/identifiers.json", "LICENSE"):
        if not any(name.endswith(wanted) for name in files):
            sys.exit(f"package-check: the {kind} lacks {wanted}")
print(f"package-check: {wheel.name} and {sdist.name} hold identifiers.json and LICENSE")
PY

python3 -m venv "$work/venv"
"$work/venv/bin/python" -m pip install -q --disable-pip-version-check "$work"/dist/*.whl
expected="metaai-ls $("$py" -c 'import metaai_ls; print(metaai_ls.__version__)')"
got=$("$work/venv/bin/metaai-ls" --version)
if [ "$got" != "$expected" ]; then
  echo "package-check: the wheel says '$got', the tree '$expected'" >&2
  exit 1
fi
echo "package-check: the installed wheel says '$got'"

# The README's user install, into a throw-away home.
HOME="$work/home" XDG_DATA_HOME= bash scripts/install.sh
[ "$("$work/home/.local/bin/metaai-ls" --version)" = "$expected" ]
port=$("$py" -c "import socket; s = socket.socket(); s.bind(('127.0.0.1', 0)); print(s.getsockname()[1])")
METAAI_LS="$work/venv/bin/metaai-ls" METAAI_DEMO_PORT=$port bash scripts/demo.sh
