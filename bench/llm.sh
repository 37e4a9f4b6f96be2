#!/usr/bin/env bash
# A real LLM from Arweave: llama.cpp (llm-greedy: load with its default mmap loader, then
# greedy-decode 32 tokens of a fixed chat prompt), all in one run (hyperfine), for two models:
# SmolLM2-135M-Instruct Q4_1 (98 MB GGUF) and the 3.2 GiB llama GGUF scripts/fetch-llm.sh
# writes (seeded random weights). For each:
#  (a) the GGUF on local disk;
#  (b) through the mount, cold, from the test gateway behaving like a distant one (20 ms per
#      request, 25 MiB/s per connection), the GGUF a transaction; 3 runs, each with a fresh
#      cache and mount; compared with curl of the same bytes;
#  (c) through the mount, warm (blocks in the disk cache, a fresh mount per run);
# and for the small model, inside wasm32 (candle-greedy: candle's quantized llama built for
# wasm32-wasip1, decoding from llama.cpp's prompt token ids) under `weavedrive run`:
#  (d) weights from /data/<id> through the shim, warm (the disk cache of (b));
#  (e) weights from a stock preopen (--dir) of the local file.
# Time to first token and decode tokens/s are what the programs report on stderr (median of
# 3 runs, page cache dropped before each; for (b), the first cold run's).
# The page cache is dropped before every run of (a) and (c), so "warm" means our disk cache
# against the local file on the same disk. The tokens of every run are checked against (a)'s.
# Needs root and /dev/fuse.
#
#   bash bench/llm.sh [RUNS] [small]   # runs of (a), (c), (d), (e) for the small model (default
#                                      # 10; 3 for the large); `small`: skip the 3.2 GiB model
set -euo pipefail
source "$(dirname "$0")/lib.sh"
runs=${1:-10}
only=${2:-all}
need_tools hyperfine
bash scripts/fetch-llm.sh
greedy=$PWD/target/llm/llm-greedy
bench_build
cargo build --release --quiet -p weavedrive-llama-candle --target wasm32-wasip1
candle=$PWD/target/wasm32-wasip1/release/candle-greedy.wasm
drop="sh -c 'sync; echo 3 > /proc/sys/vm/drop_caches'"

# timings FILE CMD...: runs CMD 3 times (page cache dropped before each), appending the
# `timing:` line each prints on stderr to FILE; the tokens must be $expected.
timings() {
  local file=$1 i; shift
  for i in 1 2 3; do
    sh -c 'sync; echo 3 > /proc/sys/vm/drop_caches'
    [ "$("$@" 2>"$work/timing.err")" = "$expected" ] || { echo "$*: tokens differ" >&2; exit 1; }
    grep '^timing:' "$work/timing.err" >>"$file"
  done
}

# bench_model LABEL GGUF RUNS: (a), (b), (c) for one model, against one gateway of its own.
bench_model() {
  local label=$1 gguf=$2 n=$3 expected tx curl_bps i start end
  echo "==== $label ($(stat -c %s "$gguf") bytes)"
  start_testgw --latency-ms 20 --bandwidth 25MiB --file "$gguf"
  tx=$(json_field 1 id)
  expected=$("$greedy" "$gguf" 2>/dev/null)

  echo "== (a) local disk"
  hyperfine -N --runs "$n" --prepare "$drop" --export-json "$work/$label-a.json" "$greedy $gguf"

  echo "== (b) through the mount, cold (20 ms, 25 MiB/s per connection)"
  for i in 1 2 3; do
    start=$(date +%s.%N)
    mount_at "$work/$label-cold$i" "$work/$label-cache$i" --daemon
    "$greedy" "$work/$label-cold$i/data/$tx" >"$work/$label-cold$i.out" 2>"$work/$label-cold$i.err"
    [ "$i" = 1 ] && grep '^timing:' "$work/$label-cold$i.err" >"$work/$label-b.timing"
    end=$(date +%s.%N)
    [ "$(cat "$work/$label-cold$i.out")" = "$expected" ] || { echo "cold run $i: tokens differ" >&2; exit 1; }
    "$bin/weavedrive" unmount "$work/$label-cold$i"
    rm -rf "$work/$label-cache2" "$work/$label-cache3"   # keep only the first: (c) uses it
    python3 -c "print('cold run $i: %.2f s' % ($end - $start))" | tee -a "$work/$label-b.txt"
  done
  curl_bps=$(curl -s -o /dev/null -w '%{speed_download}' "$url/raw/$tx")

  echo "== (c) through the mount, warm (disk cache; a fresh mount per run)"
  remount_script "$work/$label-warm" "$work/$label-cache1"
  bash "$remount"
  [ "$("$greedy" "$work/$label-warm/data/$tx" 2>/dev/null)" = "$expected" ] || { echo "warm: tokens differ" >&2; exit 1; }
  hyperfine -N --runs "$n" --prepare "bash $remount" --export-json "$work/$label-c.json" "$greedy $work/$label-warm/data/$tx"
  timings "$work/$label-c.timing" "$greedy" "$work/$label-warm/data/$tx"
  "$bin/weavedrive" unmount "$work/$label-warm"
  timings "$work/$label-a.timing" "$greedy" "$gguf"

  if [ "$label" = smollm2-135m ]; then
    local prompt dir run
    prompt=$("$greedy" "$gguf" 1 2>&1 >/dev/null | sed -n 's/^prompt: //p')
    dir=$(dirname "$gguf")
    run="$bin/weavedrive run $candle --cache-dir $work/$label-cache1"
    # The guest's own tokens (candle's, not llama.cpp's) are the reference for (d) and (e).
    expected=$($run --dir "$dir::/model" -- "/model/$(basename "$gguf")" 32 "$prompt" 2>/dev/null)
    echo "== (d) wasm32 guest, /data through the shim, warm;  (e) the same guest, stock preopen"
    hyperfine -N --runs "$n" --prepare "$drop" --export-json "$work/$label-de.json" \
      -n d "$run --gateway $url -- /data/$tx 32 '$prompt'" \
      -n e "$run --dir $dir::/model -- /model/$(basename "$gguf") 32 '$prompt'"
    timings "$work/$label-d.timing" $run --gateway "$url" -- "/data/$tx" 32 "$prompt"
    timings "$work/$label-e.timing" $run --dir "$dir::/model" -- "/model/$(basename "$gguf")" 32 "$prompt"
  fi
  stop_process "$testgw_pid"
  rm -rf "$work/$label-cache1"

  python3 - "$work" "$label" "$gguf" "$curl_bps" <<'PY' | tee -a "$work/summary.txt"
import json, os, re, sys
work, label, gguf, curl_bps = sys.argv[1], sys.argv[2], sys.argv[3], float(sys.argv[4])
run = lambda k: json.load(open(f"{work}/{label}-{k}.json"))["results"][0]
a, c = run("a"), run("c")
def timing(k):
    path = f"{work}/{label}-{k}.timing"
    if not os.path.exists(path):
        return ""
    rows = [dict(kv.split("=") for kv in line.split()[1:]) for line in open(path)]
    med = lambda key: sorted(float(r[key]) for r in rows)[len(rows) // 2]
    return f"   first token {med('first_token_ms'):.0f} ms, {med('decode_tokens_per_s'):.1f} tok/s"
cold = [float(x) for x in re.findall(r"([\d.]+) s", open(f"{work}/{label}-b.txt").read())]
size = os.path.getsize(gguf) / 1048576
print(f"{label}:")
print(f"  (a) local disk   {a['mean']:.3f} s ± {a['stddev']:.3f}" + timing("a"))
print(f"  (b) mount cold   {min(cold):.2f} s best of {len(cold)} ({size/min(cold):.1f} MiB/s of weights; curl {curl_bps/1048576:.1f} MiB/s: {size/min(cold)/(curl_bps/1048576):.2f}x)" + timing("b"))
print(f"  (c) mount warm   {c['mean']:.3f} s ± {c['stddev']:.3f}  = {c['mean']/a['mean']:.2f}x (a)   (goal <= 1.1x)" + timing("c"))
if os.path.exists(f"{work}/{label}-de.json"):
    d, e = json.load(open(f"{work}/{label}-de.json"))["results"]
    print(f"  (d) wasm32 shim  {d['mean']:.3f} s ± {d['stddev']:.3f}  = {d['mean']/e['mean']:.2f}x (e)   (goal <= 1.0x)" + timing("d"))
    print(f"  (e) wasm32 stock {e['mean']:.3f} s ± {e['stddev']:.3f}" + timing("e"))
PY
}

bench_model smollm2-135m "$PWD/target/models/smollm2-135m/SmolLM2-135M-Instruct.Q4_1.gguf" "$runs"
[ "$only" = small ] || bench_model scale-3g "$PWD/target/models/scale-3g/model.gguf" 3
echo; cat "$work/summary.txt"
