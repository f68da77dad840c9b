#!/usr/bin/env bash
# Builds keyshift's benchmarks with the optimised `bench-opt` profile and runs one of them.
# Not part of the test command: on two cores the builds and the large runs take a while.
#
#   bash scripts/bench.sh [FLAGS]            `keyshift demo` on generated fleets of 100 and
#                                            1,000 AMG workspaces, side by side (e.g. --sizes
#                                            100,1000 --runs 5 --zips target/lambda-zips --json)
#   bash scripts/bench.sh lambdas [FLAGS]    each step Lambda started cold against a local
#                                            Lambda Runtime API next to a Python boto3 rotator
#                                            (.venv's python), e.g. --runs 9 --zips DIR --json;
#                                            --lambdas DIR measures other builds (unzipped
#                                            scripts/package.sh bootstraps) instead.
#                                            KEYSHIFT_BENCH_LAMBDA_PROFILE=lambda builds the
#                                            Lambdas with the deployed profile (LTO, size
#                                            optimised, stripped; slow) instead of bench-opt
#   bash scripts/bench.sh rotation [FLAGS]   one workspace through the state machine at 0 and
#                                            20 ms added latency: wall time, calls per
#                                            credential, AWS cost (e.g. --runs 5 --json)
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
PROFILE=(--locked --profile bench-opt)
LAMBDAS=(discover-keys create-sa mint-token store-secret verify revoke-old rotate-secret fleet-start dlq-replay)
case "${1:-}" in
  lambdas)
    shift
    packages=()
    for lambda in "${LAMBDAS[@]}"; do packages+=(-p "$lambda"); done
    lambda_profile="${KEYSHIFT_BENCH_LAMBDA_PROFILE:-bench-opt}"
    cargo build "${PROFILE[@]}" -p keyshift-bench
    # A host build of the `lambda` profile would put its binaries at target/lambda/<function>,
    # the very paths where cargo-lambda (scripts/package.sh) writes its bootstrap directories,
    # so that profile builds into a target directory of its own.
    target_dir=target
    if [[ "$lambda_profile" == lambda ]]; then target_dir=target/bench-lambdas; fi
    cargo build --locked --profile "$lambda_profile" --target-dir "$target_dir" "${packages[@]}"
    # Defaults, unless the caller passes their own.
    lambdas_dir=(--lambdas "$target_dir/$lambda_profile")
    python_arg=()
    if [[ -x "$ROOT/.venv/bin/python" ]]; then python_arg=(--python "$ROOT/.venv/bin/python"); fi
    for arg in "$@"; do
      case "$arg" in
        --lambdas | --lambdas=*) lambdas_dir=() ;;
        --python | --python=*) python_arg=() ;;
      esac
    done
    exec target/bench-opt/keyshift-bench lambdas "${lambdas_dir[@]}" "${python_arg[@]}" "$@"
    ;;
  rotation)
    shift
    cargo build "${PROFILE[@]}" -p keyshift-bench
    exec target/bench-opt/keyshift-bench rotation "$@"
    ;;
  *)
    cargo build "${PROFILE[@]}" -p keyshift -p keyshift-bench
    exec target/bench-opt/keyshift-bench --keyshift target/bench-opt/keyshift "$@"
    ;;
esac
