#!/usr/bin/env bash
# Memory bound: read a 1 GiB transaction start to end through the Drive with a 64 MiB memory
# budget, cold (from the local test gateway) and then warm (from the disk cache), and report
# peak RSS (VmHWM) of the reading process. Target: under 256 MiB.
#
#   bash bench/drive_rss.sh [SIZE_MIB] [MEMORY_BUDGET]
set -euo pipefail
cd "$(dirname "$0")/.."
size_mib=${1:-1024}
budget=${2:-64MiB}
cargo build --release --quiet -p weavedrive-testgw -p weavedrive --example read_through_drive
bin=target/release
work=$(mktemp -d)
gw_pid=
cleanup() { [ -n "$gw_pid" ] && kill "$gw_pid" 2>/dev/null; wait 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT

"$bin/weavedrive-testgw" --random "${size_mib}MiB" >"$work/gw.out" &
gw_pid=$!
for _ in $(seq 300); do grep -q '^READY' "$work/gw.out" 2>/dev/null && break; sleep 0.1; done
url=$(sed -n 's/^READY //p' "$work/gw.out")
id=$(head -1 "$work/gw.out" | python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])')
sha=$(head -1 "$work/gw.out" | python3 -c 'import json,sys; print(json.load(sys.stdin)["sha256"])')

for pass in cold warm; do
  out=$("$bin/examples/read_through_drive" --gateway "$url" --cache-dir "$work/cache" \
        --memory-cache "$budget" "$id")
  echo "$pass: $out"
  echo "$out" | python3 -c "
import json, sys
r = json.load(sys.stdin)
assert r['sha256'] == '$sha', 'sha256 mismatch'
print(f\"  {r['bytes'] / 1048576:.0f} MiB at {r['mib_per_s']:.0f} MiB/s, peak RSS {r['peak_rss_mib']:.0f} MiB (budget $budget)\")
"
done
