#!/usr/bin/env bash
# Cold `weavedrive get` of a 100 MiB ANS-104 data item (in a bundle, found through ar.io's
# /raw headers and the bundle index, read by proven chunk of the bundle, its ed25519 signature
# checked over all of it) against `get` of a 100 MiB transaction and `curl` of the item's
# `/raw/{id}` (unverified bytes), from the same local test gateway made to behave like a
# distant one: 20 ms per request and a 25 MiB/s cap per connection. hyperfine, one script.
# Every run is cold: `get --no-cache` (a cached `get` would serve runs 2 to N from its cache).
#
#   bash bench/item_vs_tx.sh [SIZE_MIB] [RUNS]
set -euo pipefail
source "$(dirname "$0")/lib.sh"
size_mib=${1:-100}
runs=${2:-5}
need_tools hyperfine
bench_build
start_testgw --random "${size_mib}MiB" --items "${size_mib}MiB" --latency-ms 20 --bandwidth 25MiB
tx=$(json_field 1 id); tx_sha=$(json_field 1 sha256)
item=$(json_field 2 id); item_sha=$(json_field 2 sha256)

hyperfine --runs "$runs" --export-json "$work/result.json" \
  -n curl-raw-item "curl -sSf -o $work/curl.bin $url/raw/$item" \
  -n get-tx "$bin/weavedrive get $tx --gateway $url -o $work/tx.bin --quiet --no-cache" \
  -n get-item "$bin/weavedrive get $item --gateway $url -o $work/item.bin --quiet --no-cache"

check_sha256 "$work/curl.bin" "$item_sha"
check_sha256 "$work/item.bin" "$item_sha"
check_sha256 "$work/tx.bin" "$tx_sha"
python3 - "$work/result.json" "$size_mib" <<'PY'
import json, sys
r = {x["command"]: x for x in json.load(open(sys.argv[1]))["results"]}
mib = float(sys.argv[2])
c, t = r["curl-raw-item"]["mean"], r["get-tx"]["mean"]
for name in ["curl-raw-item", "get-tx", "get-item"]:
    m, s = r[name]["mean"], r[name]["stddev"] or 0
    print(f"{name:<14} {mib / m:8.1f} MiB/s  (mean {m:.2f} s ± {s:.2f})  {c / m:.2f}x curl  {t / m:.2f}x get-tx")
PY
