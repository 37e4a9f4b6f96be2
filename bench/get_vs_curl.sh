#!/usr/bin/env bash
# Cold `weavedrive get` of a 100 MiB transaction against `curl` of `/{id}` from the same local
# test gateway, made to behave like a distant one: 20 ms per request and a 25 MiB/s cap per
# connection. Both run in this one script, back to back, with hyperfine; the figure is the
# ratio of their mean times. `get` runs both ways: per-chunk proofs (default) and ranged
# reads checked against the root (`--via ranges`). Every `get` run is cold: `get` reads
# through the disk cache, so each run starts with an empty one (and leaves the data in it).
# `get` also runs against the same gateway serving chunks only as JSON (`weavedrive-get-json`:
# base64, a third more bytes per chunk; the default asks for binary chunks).
# A last row is the warm case: `get` served from that cache, no gateway request.
#
#   bash bench/get_vs_curl.sh [SIZE_MIB] [RUNS]
#   BIN_DIR=target/debug bash bench/get_vs_curl.sh   # use these binaries, build nothing
set -euo pipefail
source "$(dirname "$0")/lib.sh"
size_mib=${1:-100}
runs=${2:-5}
need_tools hyperfine
# BIN_DIR: prebuilt binaries to use instead of a release build.
if [ -n "${BIN_DIR:-}" ]; then bin=$(realpath "$BIN_DIR"); else bench_build; fi
start_testgw --random "${size_mib}MiB" --latency-ms 20 --bandwidth 25MiB
id=$(json_field 1 id)
sha=$(json_field 1 sha256)
# The same gateway serving chunks only as JSON (like Arweave nodes): the same data, the same id.
binary_url=$url
start_testgw --random "${size_mib}MiB" --latency-ms 20 --bandwidth 25MiB --no-binary-chunks
[ "$(json_field 1 id)" = "$id" ] || { echo "the JSON-only gateway serves other data" >&2; exit 1; }
json_url=$url
url=$binary_url

cache="--cache-dir $work/cache"
hyperfine --runs "$runs" --export-json "$work/result.json" --prepare "rm -rf $work/cache" \
  -n curl "curl -sSf -o $work/curl.bin $url/$id" \
  -n weavedrive-get "$bin/weavedrive get $id --gateway $url -o $work/get.bin --quiet $cache" \
  -n weavedrive-get-json "$bin/weavedrive get $id --gateway $json_url -o $work/json.bin --quiet $cache" \
  -n weavedrive-get-ranges "$bin/weavedrive get $id --gateway $url -o $work/ranges.bin --quiet --via ranges $cache" \
  -n weavedrive-get-no-cache "$bin/weavedrive get $id --gateway $url -o $work/nocache.bin --quiet --no-cache"
# Warm: the cache the last `get` left (its blocks in the page cache too).
"$bin/weavedrive" get "$id" --gateway "$url" -o "$work/warm.bin" --quiet $cache
hyperfine --runs "$runs" --export-json "$work/warm.json" \
  -n weavedrive-get-warm "$bin/weavedrive get $id --gateway $url -o $work/warm.bin --quiet $cache"

for f in curl.bin get.bin json.bin ranges.bin nocache.bin warm.bin; do check_sha256 "$work/$f" "$sha"; done
python3 - "$work/result.json" "$work/warm.json" "$size_mib" <<'PY'
import json, sys
r = {x["command"]: x for f in sys.argv[1:3] for x in json.load(open(f))["results"]}
mib = float(sys.argv[3])
c = r["curl"]["mean"]
print(f"{'curl':<24} {mib / c:8.1f} MiB/s  (mean {c:.2f} s)")
for name in ["weavedrive-get", "weavedrive-get-json", "weavedrive-get-ranges", "weavedrive-get-no-cache", "weavedrive-get-warm"]:
    g = r[name]["mean"]
    print(f"{name:<24} {mib / g:8.1f} MiB/s  (mean {g:.2f} s)  {c / g:.2f}x curl")
PY
