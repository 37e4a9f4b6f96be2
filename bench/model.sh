#!/usr/bin/env bash
# Time to first embedding with real weights (all-MiniLM-L6-v2, 87 MiB of safetensors), all in
# one run (hyperfine, 5 runs each unless noted):
#  (a) native embedder, weights on local disk;
#  (b) native embedder through the mount, cold, from the test gateway behaving like a distant
#      one (20 ms per request, 25 MiB/s per connection); 3 runs, each with a fresh cache and
#      mount; compared with curl fetching the same weights from the same gateway;
#  (c) native embedder through the mount, warm (blocks in the disk cache, a fresh mount per run);
#  (d) the wasm32-wasip1 embedder under `weavedrive run`, weights from /data via the shim, warm;
#  (e) the same guest with the weights in a stock wasmtime preopen of the local files.
# The page cache is dropped before every run of (a) (c) (d) (e), so "warm" means our disk
# cache vs the local file on the same disk. Needs root and /dev/fuse.
#
#   bash bench/model.sh
set -euo pipefail
source "$(dirname "$0")/lib.sh"
need_tools hyperfine
bash scripts/fetch-model.sh
model=$PWD/target/models/all-minilm-l6-v2
bench_build -p weavedrive-minilm
cargo build --release --quiet -p weavedrive-minilm --target wasm32-wasip1
embed=$bin/minilm-embed
wasm=$PWD/target/wasm32-wasip1/release/minilm-embed.wasm

start_testgw --latency-ms 20 --bandwidth 25MiB \
  --file "$model/config.json" "$model/tokenizer.json" "$model/model.safetensors"
config=$(json_field 1 id) tokenizer=$(json_field 2 id) weights=$(json_field 3 id)
drop="sh -c 'sync; echo 3 > /proc/sys/vm/drop_caches'"
through() { echo "$1/data/$config $1/data/$tokenizer $1/data/$weights"; }

echo "== (a) local disk"
hyperfine -N --runs 10 --prepare "$drop" --export-json "$work/a.json" "$embed $model/config.json $model/tokenizer.json $model/model.safetensors"

echo "== (b) through the mount, cold (20 ms, 25 MiB/s per connection)"
for i in 1 2 3; do
  start=$(date +%s.%N)
  mount_at "$work/mnt-cold$i" "$work/cache-cold$i" --daemon
  $embed $(through "$work/mnt-cold$i") >/dev/null
  end=$(date +%s.%N)
  "$bin/weavedrive" unmount "$work/mnt-cold$i"
  python3 -c "print('cold run $i: %.2f s' % ($end - $start))" | tee -a "$work/b.txt"
done
curl_bps=$(curl -s -o /dev/null -w '%{speed_download}' "$url/raw/$weights")
echo "curl of the weights from the same gateway: $(python3 -c "print('%.1f MiB/s' % ($curl_bps/1048576))")"

echo "== (c) through the mount, warm (disk cache; a fresh mount per run, so an empty memory tier)"
remount_script "$work/mnt-warm" "$work/cache-cold1"
hyperfine -N --runs 10 --prepare "bash $remount" --export-json "$work/c.json" "$embed $(through "$work/mnt-warm")"
"$bin/weavedrive" unmount "$work/mnt-warm"

echo "== (d) wasm, weights via the shim, warm"
data_args="/data/$config /data/$tokenizer /data/$weights"
"$bin/weavedrive" run "$wasm" --cache-dir "$work/cache-cold1" -- $data_args >/dev/null  # caches the compiled module
hyperfine -N --runs 5 --prepare "$drop" --export-json "$work/d.json" \
  "$bin/weavedrive run $wasm --cache-dir $work/cache-cold1 -- $data_args"

echo "== (e) wasm, weights in a stock preopen of the local files"
hyperfine -N --runs 5 --prepare "$drop" --export-json "$work/e.json" \
  "$bin/weavedrive run $wasm --cache-dir $work/cache-cold1 --dir $model::/model -- /model/config.json /model/tokenizer.json /model/model.safetensors"

python3 - "$work" "$model/model.safetensors" "$curl_bps" <<'PY'
import json, os, re, sys
work, weights, curl_bps = sys.argv[1], sys.argv[2], float(sys.argv[3])
mean = lambda k: json.load(open(f"{work}/{k}.json"))["results"][0]["mean"]
a, c, d, e = (mean(k) for k in "acde")
cold = [float(x) for x in re.findall(r"([\d.]+) s", open(f"{work}/b.txt").read())]
size = os.path.getsize(weights) / 1048576
print(f"(a) local disk           {a:.3f} s")
print(f"(b) mount cold           {min(cold):.2f} s best of {len(cold)} ({size/min(cold):.1f} MiB/s of weights; curl {curl_bps/1048576:.1f} MiB/s: {size/min(cold)/(curl_bps/1048576):.2f}x)")
print(f"(c) mount warm           {c:.3f} s  = {c/a:.2f}x (a)   (goal <= 1.2x)")
print(f"(d) wasm via shim, warm  {d:.3f} s  = {d/e:.2f}x (e)   (goal <= 1.0x)")
print(f"(e) wasm, stock preopen  {e:.3f} s")
PY
