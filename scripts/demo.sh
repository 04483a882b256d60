#!/usr/bin/env bash
# The offline demo: install metaai-ls, start the local fake Meta AI, ask it something.
# Nothing leaves this machine; no account is needed.
set -euo pipefail
cd "$(dirname "$0")/.."

python3 -m venv .venv
.venv/bin/python -m pip install -q --disable-pip-version-check -e .
port=${METAAI_DEMO_PORT:-8765}
.venv/bin/metaai-ls fake-server --port "$port" >/dev/null &
fake=$!
trap 'kill $fake' EXIT
cookies=$(mktemp)
echo '{"abra_sess": "offline-demo"}' >"$cookies"
for _ in $(seq 50); do
  (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break
  sleep 0.1
done
export METAAI_URL="http://127.0.0.1:$port" METAAI_GRAPH_URL="http://127.0.0.1:$port"
printf 'def add(a, b):\n    return a + b\n' | .venv/bin/metaai-ls ask --cookies "$cookies" "Explain this function"
