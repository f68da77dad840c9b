#!/usr/bin/env bash
# Builds keyshift and keyshift-bench with the optimised `bench-opt` profile and runs the
# benchmark: `keyshift demo` on generated fleets of 100 and 1,000 AMG workspaces, side by
# side, with wall time, peak RSS and their ratios. Arguments go to keyshift-bench
# (e.g. --sizes 100,1000 --zips target/lambda-zips --json). Not part of the test command: on
# two cores the build and the 1,000-workspace run take a while.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
cargo build --locked --profile bench-opt -p keyshift -p keyshift-bench
exec target/bench-opt/keyshift-bench --keyshift target/bench-opt/keyshift "$@"
