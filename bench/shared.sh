#!/usr/bin/env bash
# Host B's cold read of a transaction from the shared tier against the same cold read from a
# distant gateway (the local test gateway with 20 ms per request and 25 MiB/s per connection).
# Host A seeds the tier first (`preload --shared`, from that gateway). Then, one run each,
# every run with an empty local cache (which each run fills, extent included) and the data
# streamed to /dev/null: `get` with the tier and every gateway down, and `get` from the
# gateway with no tier. Tiers: a moto S3 server (Python, one process, as the tests use) and a
# `file://` directory (a shared filesystem; the bound of a store faster than our client).
# For scale, moto's own rate for the same blocks (boto3, 32 threads) is printed too.
#
#   bash bench/shared.sh [SIZE_MIB]         # default 1024
#   BIN_DIR=target/release bash bench/shared.sh 1024   # use these binaries, build nothing
set -euo pipefail
source "$(dirname "$0")/lib.sh"
size_mib=${1:-1024}
if [ -n "${BIN_DIR:-}" ]; then bin=$(realpath "$BIN_DIR"); else bench_build; fi
python3 -c 'import moto.server, boto3' 2>/dev/null \
  || python3 -m pip install --quiet --disable-pip-version-check 'moto[server]==5.2.1'

start_testgw --random "${size_mib}MiB" --latency-ms 20 --bandwidth 25MiB
id=$(json_field 1 id)
sha=$(json_field 1 sha256)
dead=http://127.0.0.1:9   # nothing listens there: every gateway down

port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
python3 -m moto.server -H 127.0.0.1 -p "$port" >"$work/moto.log" 2>&1 &
moto_pid=$!
on_exit stop_process "$moto_pid"
export AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test AWS_REGION=us-east-1 \
  AWS_ENDPOINT_URL=http://127.0.0.1:$port AWS_ALLOW_HTTP=true
for _ in $(seq 100); do python3 -c "import socket; socket.create_connection(('127.0.0.1', $port))" 2>/dev/null && break; sleep 0.1; done
python3 -c "import boto3; boto3.client('s3', endpoint_url='$AWS_ENDPOINT_URL').create_bucket(Bucket='fleet')"

# timed NAME COMMAND...: runs it once (its output to /dev/null: `get` verifies every byte
# itself, and the tests check what it writes), prints seconds.
timed() {
  local name=$1 start end
  shift
  sync
  start=$(date +%s.%N)
  "$@" >/dev/null
  end=$(date +%s.%N)
  python3 -c "print(f'$name {($end - $start):.3f}')" | tee -a "$work/times"
}
get() { "$bin/weavedrive" get "$id" --quiet "$@"; }
# One verified copy through the tier, checked against the data's sha256.
check_tier() {
  rm -rf "$work/check" && get --gateway "$dead" --cache-dir "$work/check" --shared-cache "$1" -o "$work/check.bin"
  check_sha256 "$work/check.bin" "$sha" && rm -f "$work/check.bin"
}

for tier in "s3://fleet/bench" "file://$work/tier"; do
  kind=${tier%%:*}
  rm -rf "$work/a" && "$bin/weavedrive" preload --shared "$id" --quiet --gateway "$url" \
    --cache-dir "$work/a" --shared-cache "$tier"
  check_tier "$tier"
  rm -rf "$work/b"
  timed "tier-$kind" get --gateway "$dead" --cache-dir "$work/b" --shared-cache "$tier"
done
rm -rf "$work/c"
timed gateway get --gateway "$url" --cache-dir "$work/c"
python3 - "$AWS_ENDPOINT_URL" <<'PY'
import boto3, sys, time
from concurrent.futures import ThreadPoolExecutor
s3 = boto3.client("s3", endpoint_url=sys.argv[1])
keys = [o["Key"] for page in s3.get_paginator("list_objects_v2").paginate(Bucket="fleet", Prefix="bench/blocks/") for o in page["Contents"]]
start = time.time()
with ThreadPoolExecutor(32) as pool:
    n = sum(pool.map(lambda k: len(s3.get_object(Bucket="fleet", Key=k)["Body"].read()), keys))
t = time.time() - start
print(f"moto's own rate: {len(keys)} blocks, {n / 2**20:.0f} MiB in {t:.2f} s ({n / 2**20 / t:.1f} MiB/s, {len(keys) / t:.0f} objects/s)")
PY

python3 - "$work/times" "$size_mib" <<'PY'
import sys
t = dict(line.split() for line in open(sys.argv[1]))
t = {k: float(v) for k, v in t.items()}
mib = float(sys.argv[2])
g = t["gateway"]
print(f"{'gateway (distant profile)':<28} {mib / g:8.1f} MiB/s  ({g:.2f} s)")
for k in ("tier-s3", "tier-file"):
    print(f"{k + ', gateways down':<28} {mib / t[k]:8.1f} MiB/s  ({t[k]:.2f} s)  {g / t[k]:.2f}x the gateway")
PY
