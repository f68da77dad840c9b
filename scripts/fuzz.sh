#!/usr/bin/env bash
# Builds every cargo-fuzz target and runs each for N seconds (default 30), printing libFuzzer's
# final line (execs, rate, corpus) per target. On demand only, never part of scripts/test.sh:
# it needs nightly and cargo-fuzz (`cargo install cargo-fuzz --locked`). A finding stops with a
# non-zero status and leaves the input in fuzz/artifacts/<target>/.
#
#   scripts/fuzz.sh [seconds] [target...]
set -euo pipefail
cd "$(dirname "$0")/../fuzz"

seconds="${1:-30}"
shift || true
parsers=(step_inputs asl_jsonpath asl_intrinsics mock_config asl_definition)
targets=("$@")
if [ "${#targets[@]}" -eq 0 ]; then
  targets=("${parsers[@]}" grafana_responses)
fi

export CARGO_INCREMENTAL=0
cargo +nightly fuzz build
# grafana_responses links the HTTP client and its TLS stack, behind a feature so the parser
# targets above build in a fraction of the time.
cargo +nightly fuzz build --features grafana grafana_responses

for target in "${targets[@]}"; do
  features=()
  if [ "$target" = grafana_responses ]; then
    features=(--features grafana)
  fi
  mkdir -p "corpus/$target"
  echo "== $target (${seconds}s)"
  cargo +nightly fuzz run "${features[@]}" "$target" "corpus/$target" "seeds/$target" -- \
    -max_total_time="$seconds" -max_len=65536 -timeout=10 -print_final_stats=1 2>&1 |
    grep -E '^(#[0-9]+ +DONE|stat::number_of_executed_units|stat::average_exec_per_sec|==[0-9]+== ERROR|SUMMARY)' || true
  if [ -n "$(ls -A "artifacts/$target" 2>/dev/null)" ]; then
    echo "finding in fuzz/artifacts/$target" >&2
    exit 1
  fi
done
