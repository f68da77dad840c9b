#!/usr/bin/env bash
# Builds keyshift's Lambda functions as `bootstrap` zips for the provided.al2023 runtime:
#   scripts/package.sh [--arch arm64|x86_64] [function...]
# Without function names every Lambda crate is built. The zips land in target/lambda-zips/
# as <function>.zip, the directory the Terraform module's `lambda_zip_dir` points at.
# cargo-lambda (and the zig linker it brings) is installed from PyPI into .venv if missing.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

ALL_FUNCTIONS=(discover-keys create-sa mint-token store-secret verify revoke-old fleet-start dlq-replay)
ARCH=arm64
FUNCTIONS=()
while [ $# -gt 0 ]; do
  case "$1" in
    --arch)
      [ $# -ge 2 ] || { echo "--arch needs a value: arm64 or x86_64" >&2; exit 2; }
      ARCH="$2"
      shift 2
      ;;
    --arch=*)
      ARCH="${1#--arch=}"
      shift
      ;;
    -h|--help)
      sed -n '2,6p' "$0"
      exit 0
      ;;
    -*)
      echo "unknown option $1 (expected --arch arm64|x86_64)" >&2
      exit 2
      ;;
    *)
      FUNCTIONS+=("$1")
      shift
      ;;
  esac
done
case "$ARCH" in
  arm64) TARGET_FLAG=--arm64 ;;
  x86_64) TARGET_FLAG=--x86-64 ;;
  *) echo "--arch must be arm64 or x86_64, not $ARCH" >&2; exit 2 ;;
esac
if [ ${#FUNCTIONS[@]} -eq 0 ]; then
  FUNCTIONS=("${ALL_FUNCTIONS[@]}")
fi
for function in "${FUNCTIONS[@]}"; do
  known=0
  for candidate in "${ALL_FUNCTIONS[@]}"; do
    [ "$candidate" = "$function" ] && known=1
  done
  [ "$known" -eq 1 ] || { echo "$function is not a keyshift Lambda (one of: ${ALL_FUNCTIONS[*]})" >&2; exit 2; }
done

if [ ! -x .venv/bin/python ]; then
  python3 -m venv .venv
fi
if [ ! -x .venv/bin/cargo-lambda ]; then
  echo "==> installing cargo-lambda (with zig) into .venv"
  .venv/bin/pip install --quiet --disable-pip-version-check 'cargo-lambda==1.*'
fi
# cargo finds the `cargo-lambda` subcommand and zig on PATH.
export PATH="$ROOT/.venv/bin:$PATH"

TARGET_DIR="${CARGO_TARGET_DIR:-$ROOT/target}"
OUT_DIR="$ROOT/target/lambda-zips"
mkdir -p "$OUT_DIR"

packages=()
for function in "${FUNCTIONS[@]}"; do packages+=(--package "$function"); done
echo "==> cargo lambda build --release $TARGET_FLAG ${FUNCTIONS[*]}"
start=$(date +%s)
cargo lambda build --release "$TARGET_FLAG" --output-format zip --lambda-dir "$TARGET_DIR/lambda" "${packages[@]}"
echo "built in $(( $(date +%s) - start ))s"

for function in "${FUNCTIONS[@]}"; do
  zip="$TARGET_DIR/lambda/$function/bootstrap.zip"
  [ -f "$zip" ] || { echo "cargo lambda did not produce $zip" >&2; exit 1; }
  cp "$zip" "$OUT_DIR/$function.zip"
  size=$(stat -c %s "$OUT_DIR/$function.zip")
  printf '%-14s %8d bytes (%s MB)  %s\n' "$function" "$size" \
    "$(awk -v s="$size" 'BEGIN { printf "%.2f", s / 1048576 }')" "$OUT_DIR/$function.zip"
done
