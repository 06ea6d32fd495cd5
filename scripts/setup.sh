#!/usr/bin/env bash
# Installs everything the test suite needs beyond a Rust toolchain, and nothing that is
# already there: nats-server (the real bus the tests start), Node.js + the devserver's
# socket.io-client (the interop test), and cargo-nextest (the test runner). Debian/Ubuntu;
# run as root (or with sudo). `.ci/run` calls it first; the README's test command needs it once.
set -euo pipefail
cd "$(dirname "$0")/.."

need_apt=()
if ! command -v nats-server >/dev/null 2>&1 && [ ! -x /usr/sbin/nats-server ]; then
  need_apt+=(nats-server)
fi
if ! command -v npm >/dev/null 2>&1; then
  need_apt+=(nodejs npm)
fi
if [ ${#need_apt[@]} -gt 0 ]; then
  echo "setup: apt-get install ${need_apt[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need_apt[@]}"
fi

if ! cargo nextest --version >/dev/null 2>&1; then
  echo "setup: cargo install cargo-nextest"
  cargo install --locked cargo-nextest
fi

# The devserver's interop test drives it with the official JavaScript socket.io client.
if [ ! -f crates/devserver/js/node_modules/socket.io-client/package.json ]; then
  echo "setup: npm ci in crates/devserver/js"
  (cd crates/devserver/js && npm ci --no-audit --no-fund --loglevel=error)
fi
echo "setup: done"
