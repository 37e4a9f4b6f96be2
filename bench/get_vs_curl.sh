#!/usr/bin/env bash
# Cold `weavedrive get` of a 100 MiB transaction against `curl` of `/{id}` from the same local
# test gateway, made to behave like a distant one: 20 ms per request and a 25 MiB/s cap per
# connection. Both run in this one script, back to back, with hyperfine; the figure is the
# ratio of their mean times. `get` runs both ways: per-chunk proofs (default) and ranged
# reads checked against the root (`--via ranges`). Every run is cold (`get` has no cache at this stage).
#
#   bash bench/get_vs_curl.sh [SIZE_MIB] [RUNS]
set -euo pipefail
cd "$(dirname "$0")/.."
size_mib=${1:-100}
runs=${2:-5}
command -v hyperfine >/dev/null || { apt-get update -qq && apt-get install -y -qq hyperfine; }
cargo build --release --quiet -p weavedrive -p weavedrive-testgw
bin=target/release
work=$(mktemp -d)
gw_pid=
cleanup() { [ -n "$gw_pid" ] && kill "$gw_pid" 2>/dev/null; wait 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT

"$bin/weavedrive-testgw" --random "${size_mib}MiB" --latency-ms 20 --bandwidth 25MiB >"$work/gw.out" &
gw_pid=$!
for _ in $(seq 100); do grep -q '^READY' "$work/gw.out" 2>/dev/null && break; sleep 0.1; done
url=$(sed -n 's/^READY //p' "$work/gw.out")
id=$(head -1 "$work/gw.out" | python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])')
sha=$(head -1 "$work/gw.out" | python3 -c 'import json,sys; print(json.load(sys.stdin)["sha256"])')

hyperfine --runs "$runs" --export-json "$work/result.json" \
  -n curl "curl -sSf -o $work/curl.bin $url/$id" \
  -n weavedrive-get "$bin/weavedrive get $id --gateway $url -o $work/get.bin --quiet" \
  -n weavedrive-get-ranges "$bin/weavedrive get $id --gateway $url -o $work/ranges.bin --quiet --via ranges"

for f in curl.bin get.bin ranges.bin; do
  got=$(sha256sum "$work/$f" | cut -d' ' -f1)
  [ "$got" = "$sha" ] || { echo "$f: sha256 mismatch" >&2; exit 1; }
done
python3 - "$work/result.json" "$size_mib" <<'PY'
import json, sys
r = {x["command"]: x for x in json.load(open(sys.argv[1]))["results"]}
mib = float(sys.argv[2])
c = r["curl"]["mean"]
print(f"{'curl':<24} {mib / c:8.1f} MiB/s  (mean {c:.2f} s)")
for name in ["weavedrive-get", "weavedrive-get-ranges"]:
    g = r[name]["mean"]
    print(f"{name:<24} {mib / g:8.1f} MiB/s  (mean {g:.2f} s)  {c / g:.2f}x curl")
PY
