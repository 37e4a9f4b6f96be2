#!/usr/bin/env bash
# Memory bound: read a 1 GiB transaction start to end through the Drive with a 64 MiB memory
# budget, cold (from the local test gateway) and then warm (from the disk cache), and report
# peak RSS (VmHWM) of the reading process. Target: under 256 MiB.
#
#   bash bench/drive_rss.sh [SIZE_MIB] [MEMORY_BUDGET]
set -euo pipefail
source "$(dirname "$0")/lib.sh"
size_mib=${1:-1024}
budget=${2:-64MiB}
bench_build --example read_through_drive
start_testgw --random "${size_mib}MiB"
id=$(json_field 1 id)
sha=$(json_field 1 sha256)

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
