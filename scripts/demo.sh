#!/usr/bin/env bash
# The offline demo: install metaai-ls, start the local fake Meta AI, check the setup, and ask
# it something through both doors (the account over today's gateway protocol, and the Meta
# Model API). Nothing leaves this machine; no account or key is needed.
set -euo pipefail
cd "$(dirname "$0")/.."

# METAAI_LS names an installed metaai-ls to run instead (scripts/package-check.sh: the wheel).
if [ -z "${METAAI_LS:-}" ]; then
  python3 -m venv .venv
  .venv/bin/python -m pip install -q --disable-pip-version-check -e .
  METAAI_LS=.venv/bin/metaai-ls
fi
port=${METAAI_DEMO_PORT:-8765}
"$METAAI_LS" fake-server --port "$port" >/dev/null &
fake=$!
cookies=$(mktemp)
trap 'kill $fake; rm -f "$cookies"' EXIT
chmod 600 "$cookies"
echo '{"ecto_1_sess": "offline-demo", "datr": "offline-demo"}' >"$cookies"
for _ in $(seq 50); do
  (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break
  sleep 0.1
done
export METAAI_URL="http://127.0.0.1:$port" METAAI_GATEWAY_URL="ws://127.0.0.1:$port/ws/clippy"
export METAAI_GRAPH_URL="http://127.0.0.1:$port" METAAI_API_URL="http://127.0.0.1:$port/v1"

echo "== metaai-ls doctor"
"$METAAI_LS" doctor --cookies "$cookies"
echo "== the account door (gateway protocol)"
printf 'def add(a, b):\n    return a + b\n' | "$METAAI_LS" ask --cookies "$cookies" "Explain this function"
echo "== the API door"
MODEL_API_KEY=fake-api-key "$METAAI_LS" ask --backend api "Explain this function" </dev/null
