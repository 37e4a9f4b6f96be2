#!/usr/bin/env bash
# Cold `weavedrive get` of a 100 MiB ANS-104 data item (in a bundle, found through ar.io's
# /raw headers and the bundle index, read by proven chunk of the bundle, its ed25519 signature
# checked over all of it) against `get` of a 100 MiB transaction and `curl` of the item's
# `/raw/{id}` (unverified bytes), from the same local test gateway made to behave like a
# distant one: 20 ms per request and a 25 MiB/s cap per connection. hyperfine, one script.
#
#   bash bench/item_vs_tx.sh [SIZE_MIB] [RUNS]
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

"$bin/weavedrive-testgw" --random "${size_mib}MiB" --items "${size_mib}MiB" \
  --latency-ms 20 --bandwidth 25MiB >"$work/gw.out" &
gw_pid=$!
for _ in $(seq 300); do grep -q '^READY' "$work/gw.out" 2>/dev/null && break; sleep 0.1; done
url=$(sed -n 's/^READY //p' "$work/gw.out")
field() { sed -n "$1p" "$work/gw.out" | python3 -c "import json,sys; print(json.load(sys.stdin)[\"$2\"])"; }
tx=$(field 1 id); tx_sha=$(field 1 sha256)
item=$(field 2 id); item_sha=$(field 2 sha256)

hyperfine --runs "$runs" --export-json "$work/result.json" \
  -n curl-raw-item "curl -sSf -o $work/curl.bin $url/raw/$item" \
  -n get-tx "$bin/weavedrive get $tx --gateway $url -o $work/tx.bin --quiet" \
  -n get-item "$bin/weavedrive get $item --gateway $url -o $work/item.bin --quiet"

check() { [ "$(sha256sum "$work/$1" | cut -d' ' -f1)" = "$2" ] || { echo "$1: sha256 mismatch" >&2; exit 1; }; }
check curl.bin "$item_sha"; check item.bin "$item_sha"; check tx.bin "$tx_sha"
python3 - "$work/result.json" "$size_mib" <<'PY'
import json, sys
r = {x["command"]: x for x in json.load(open(sys.argv[1]))["results"]}
mib = float(sys.argv[2])
c, t = r["curl-raw-item"]["mean"], r["get-tx"]["mean"]
for name in ["curl-raw-item", "get-tx", "get-item"]:
    m, s = r[name]["mean"], r[name]["stddev"] or 0
    print(f"{name:<14} {mib / m:8.1f} MiB/s  (mean {m:.2f} s ± {s:.2f})  {c / m:.2f}x curl  {t / m:.2f}x get-tx")
PY
