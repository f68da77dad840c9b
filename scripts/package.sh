#!/usr/bin/env bash
# Builds keyshift's Lambda functions as `bootstrap` zips for the provided.al2023 runtime:
#   scripts/package.sh [--arch arm64|x86_64] [--profile lambda|package-check] [function...]
# Without function names every Lambda crate is built. `--profile package-check` (what the
# test command uses to prove this path) builds fast and barely optimised; deploy `lambda`
# (the default: release with size optimisation). The zips land in target/lambda-zips/
# (package-check ones in target/lambda-zips-package-check/)
# as <function>.zip, the directory the Terraform module's `lambda_zip_dir` points at.
# cargo-lambda (and the zig linker it brings) is installed from PyPI into .venv if missing.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

ALL_FUNCTIONS=(discover-keys create-sa mint-token store-secret verify revoke-old fleet-start dlq-replay rotate-secret)
ARCH=arm64
PROFILE=lambda
FUNCTIONS=()
# `--option=value` is read as `--option value`.
words=()
for word in "$@"; do
  case "$word" in
    --arch=*|--profile=*) words+=("${word%%=*}" "${word#*=}") ;;
    *) words+=("$word") ;;
  esac
done
set -- ${words[@]+"${words[@]}"}
while [ $# -gt 0 ]; do
  case "$1" in
    --arch|--profile)
      [ $# -ge 2 ] || { echo "$1 needs a value (--arch arm64|x86_64, --profile lambda|package-check)" >&2; exit 2; }
      if [ "$1" = --arch ]; then ARCH="$2"; else PROFILE="$2"; fi
      shift 2
      ;;
    -h|--help)
      sed -n '2,9p' "$0"
      exit 0
      ;;
    -*)
      echo "unknown option $1 (expected --arch arm64|x86_64 or --profile lambda|package-check)" >&2
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
case "$PROFILE" in
  lambda|package-check) ;;
  *) echo "--profile must be lambda or package-check, not $PROFILE" >&2; exit 2 ;;
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
# Deployable zips go where the module's lambda_zip_dir points; a package-check build (the
# test command's) goes beside them, so it never replaces a release zip.
OUT_DIR="$ROOT/target/lambda-zips"
[ "$PROFILE" = lambda ] || OUT_DIR="$ROOT/target/lambda-zips-$PROFILE"
mkdir -p "$OUT_DIR"

# One build per function: Cargo unifies features across the packages of one invocation, so a
# joint build would give every step the SDKs that fleet-start, dlq-replay and the promoting
# functions turn on (Step Functions, SQS, EventBridge). Dependencies built with the same
# features are reused from one function to the next.
start=$(date +%s)
for function in "${FUNCTIONS[@]}"; do
  echo "==> cargo lambda build --profile $PROFILE $TARGET_FLAG --package $function"
  cargo lambda build --profile "$PROFILE" "$TARGET_FLAG" --output-format zip --lambda-dir "$TARGET_DIR/lambda" --package "$function"
done
echo "built in $(( $(date +%s) - start ))s"

for function in "${FUNCTIONS[@]}"; do
  zip="$TARGET_DIR/lambda/$function/bootstrap.zip"
  [ -f "$zip" ] || { echo "cargo lambda did not produce $zip" >&2; exit 1; }
  cp "$zip" "$OUT_DIR/$function.zip"
  # What provided.al2023 runs: one executable `bootstrap` for the chosen architecture.
  python3 - "$OUT_DIR/$function.zip" "$ARCH" <<'PY'
import stat, sys, zipfile
path, arch = sys.argv[1], sys.argv[2]
with zipfile.ZipFile(path) as archive:
    names = archive.namelist()
    if names != ["bootstrap"]:
        sys.exit(f"{path} must hold exactly `bootstrap`, not {names}")
    info = archive.getinfo("bootstrap")
    mode = info.external_attr >> 16
    if not mode & stat.S_IXUSR:
        sys.exit(f"{path}: bootstrap is not executable (mode {oct(mode)})")
    header = archive.read("bootstrap")[:20]
machine = {"x86_64": 62, "arm64": 183}[arch]
if header[:4] != b"\x7fELF" or int.from_bytes(header[18:20], "little") != machine:
    sys.exit(f"{path}: bootstrap is not an ELF executable for {arch}")
PY
  size=$(stat -c %s "$OUT_DIR/$function.zip")
  printf '%-14s %8d bytes (%s MB)  %s\n' "$function" "$size" \
    "$(awk -v s="$size" 'BEGIN { printf "%.2f", s / 1048576 }')" "$OUT_DIR/$function.zip"
done
