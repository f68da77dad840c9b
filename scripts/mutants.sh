#!/usr/bin/env bash
# Mutation testing of the code that decides what keyshift touches and protects every
# credential: the step logic, the planner and fleet selection (keyshift-core). cargo-mutants
# (from crates.io) changes one thing at a time (a condition negated, a function returning a
# default, an operator swapped) and runs keyshift-core's tests against each change; a mutant
# the tests still pass with is "missed" and is either a missing test or an equivalent change.
# Results: target/mutants/mutants.out/{caught,missed,timeout,unviable}.txt and outcomes.json.
#
# Not part of the test command: every mutant is a rebuild plus a test run, which takes hours on
# two cores over the whole crate. Arguments go to cargo-mutants, e.g.
#   bash scripts/mutants.sh                          # the guard files listed below
#   bash scripts/mutants.sh --list                   # only list the mutants
#   bash scripts/mutants.sh --file crates/core/src/steps/verify.rs
#   bash scripts/mutants.sh --shard 0/4              # a quarter of them (run the four on four machines)
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

MUTANTS_VERSION="27.1.0"
if ! cargo mutants --version 2>/dev/null | grep -q "$MUTANTS_VERSION"; then
  cargo install --locked --version "$MUTANTS_VERSION" cargo-mutants
fi

# Files whose logic guards a credential or selects what is touched. A caller's --file wins.
GUARDS=(
  crates/core/src/plan/planner.rs
  crates/core/src/plan/revocation.rs
  crates/core/src/plan/usage.rs
  crates/core/src/steps/verify.rs
  crates/core/src/steps/store_secret.rs
  crates/core/src/steps/revoke_old.rs
  crates/core/src/steps/mint_token.rs
  crates/core/src/steps/create_sa.rs
  crates/core/src/steps/discover.rs
  crates/core/src/steps/rollback.rs
  crates/core/src/fleet/config.rs
  crates/core/src/fleet/start.rs
)
args=()
if ! printf '%s\n' "$@" | grep -q -- '^--file\|^-f$'; then
  for file in "${GUARDS[@]}"; do args+=(--file "$file"); done
fi

# keyshift-core's own tests (unit and integration) are the ones run per mutant: the e2e suites
# take minutes each. --in-place would reuse target/, but it edits the checkout; the default
# copies the tree to a scratch directory and builds there.
mkdir -p target
exec cargo mutants --package keyshift-core --timeout-multiplier 3 --output target/mutants \
  "${args[@]}" "$@"
