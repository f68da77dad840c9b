#!/usr/bin/env bash
# The one test command: installs what the tests need, starts the moto server, then runs
# formatting, lint and the whole test suite. Safe to run repeatedly; installs are kept in
# .venv/ and tools/node_modules/ and redone only when missing or out of date.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

log() { printf '\n==> %s\n' "$*"; }

log "Python tools (moto server) into .venv"
if [ ! -x .venv/bin/python ]; then
  python3 -m venv .venv
fi
if ! .venv/bin/python -c 'import moto, flask' 2>/dev/null; then
  .venv/bin/pip install --quiet --no-cache-dir --disable-pip-version-check 'moto[server]==5.*'
fi
log "Python tools (checkov, python-hcl2) for the Terraform checks into .venv"
if [ ! -x .venv/bin/checkov ] || ! .venv/bin/python -c 'import hcl2' 2>/dev/null; then
  .venv/bin/pip install --quiet --no-cache-dir --disable-pip-version-check 'checkov==3.*' 'python-hcl2==8.*'
fi

log "Node tools (asl-validator, aws-local-stepfunctions, Node 22) into tools/node_modules"
# npm ci wipes node_modules (and re-downloads Node 22) every time, so only run it when the
# lockfile differs from the one the current tools/node_modules was installed from.
if ! cmp -s tools/package-lock.json tools/node_modules/.keyshift-installed-lock.json 2>/dev/null; then
  npm ci --prefix tools --no-audit --no-fund --loglevel=error
  cp tools/package-lock.json tools/node_modules/.keyshift-installed-lock.json
fi

log "Starting the moto server"
MOTO_PORT="${KEYSHIFT_MOTO_PORT:-$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')}"
mkdir -p target
.venv/bin/moto_server -H 127.0.0.1 -p "$MOTO_PORT" >target/moto.log 2>&1 &
MOTO_PID=$!
trap 'kill "$MOTO_PID" 2>/dev/null || true' EXIT
for _ in $(seq 1 100); do
  if curl -fsS "http://127.0.0.1:$MOTO_PORT/moto-api/" >/dev/null 2>&1; then break; fi
  sleep 0.2
done
curl -fsS "http://127.0.0.1:$MOTO_PORT/moto-api/" >/dev/null || { echo "moto server did not start"; cat target/moto.log; exit 1; }
export KEYSHIFT_MOTO_ENDPOINT="http://127.0.0.1:$MOTO_PORT"
# Tests that need moto or the Node tools fail instead of skipping when this is set.
export KEYSHIFT_REQUIRE_TOOLS=1
echo "moto at $KEYSHIFT_MOTO_ENDPOINT"

shopt -s nullglob
ASL_FILES=(statemachine/*.asl.json)
if [ ${#ASL_FILES[@]} -gt 0 ]; then
  log "asl-validator"
  args=()
  for f in "${ASL_FILES[@]}"; do args+=(--json-path "$f"); done
  tools/node_modules/.bin/asl-validator "${args[@]}"
fi

TF_FILES=(terraform/*.tf terraform/*/*.tf terraform/*/*/*.tf)
if [ ${#TF_FILES[@]} -gt 0 ]; then
  if command -v terraform >/dev/null 2>&1; then
    log "terraform fmt -check"
    TF_CLI_CONFIG_FILE=/dev/null terraform fmt -check -recursive terraform
  elif [ "${KEYSHIFT_REQUIRE_TOOLS:-}" = 1 ]; then
    echo "terraform is not on PATH: install it to check the formatting of terraform/"; exit 1
  else
    echo "terraform is not on PATH: skipping terraform fmt -check"
  fi

  log "checkov over terraform/ (no failed check; skips only inline, with a reason)"
  .venv/bin/checkov -d terraform --framework terraform --quiet --compact --skip-download

  log "Terraform module against the code (terraform/tests/test_module.py)"
  .venv/bin/python terraform/tests/test_module.py

  TF_PLUGIN_DIR="${KEYSHIFT_TF_PLUGIN_DIR:-/opt/tf-plugins}"
  if command -v terraform >/dev/null 2>&1 && [ -d "$TF_PLUGIN_DIR" ]; then
    log "terraform validate (the AWS-only examples, providers from $TF_PLUGIN_DIR)"
    # In a copy, so init's .terraform/ and lock files never land in the checkout; the module
    # reads the ASL from ../../../statemachine, so that comes along.
    TF_WORK="$(mktemp -d)"
    cp -r terraform statemachine "$TF_WORK/"
    for example in amg-fleet self-hosted multi-account rotation-events; do
      dir="$TF_WORK/terraform/examples/$example"
      TF_CLI_CONFIG_FILE=/dev/null terraform -chdir="$dir" init -backend=false -input=false -plugin-dir="$TF_PLUGIN_DIR" >/dev/null
      printf '%s: ' "$example"
      TF_CLI_CONFIG_FILE=/dev/null terraform -chdir="$dir" validate -no-color
    done
    rm -rf "$TF_WORK"
  else
    echo "no Terraform provider mirror at $TF_PLUGIN_DIR (these machines cannot download providers): terraform validate not run; see the README's Validating"
  fi
fi

log "cargo fmt --check"
cargo fmt --all -- --check

log "cargo clippy (-D warnings)"
cargo clippy --workspace --all-targets --locked -- -D warnings

log "cargo test --workspace"
cargo test --workspace --locked

log "Lambda packaging path: one function through scripts/package.sh (package-check profile)"
# The whole optimised set takes most of an hour on two cores and is built on demand
# (scripts/package.sh); this proves cargo-lambda, zig and the zip layout on every run.
bash scripts/package.sh --arch x86_64 --profile package-check verify
