#!/usr/bin/env bash
# Install metaai-ls for this user from this clone: a venv of its own under
# ~/.local/share/metaai-ls and the `metaai-ls` command linked into ~/.local/bin, where editors
# find it on PATH. Run it again to update.
set -euo pipefail
cd "$(dirname "$0")/.."
prefix=${XDG_DATA_HOME:-$HOME/.local/share}/metaai-ls
bin=$HOME/.local/bin
python3 -m venv "$prefix"
"$prefix/bin/python" -m pip install -q --disable-pip-version-check --upgrade .
mkdir -p "$bin"
ln -sf "$prefix/bin/metaai-ls" "$bin/metaai-ls"
echo "installed $("$bin/metaai-ls" --version) as $bin/metaai-ls"
case ":$PATH:" in
*":$bin:"*) ;;
*)
  echo "note: $bin is not on your PATH: add it (for example in ~/.profile:" \
    "export PATH=\"\$HOME/.local/bin:\$PATH\"), or give your editor the full path $bin/metaai-ls"
  ;;
esac
