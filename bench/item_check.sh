#!/usr/bin/env bash
# What checking a data item whole before serving it costs: a 100 MiB ANS-104 item (ed25519, in
# a bundle) against a 100 MiB transaction, read through a fresh mount from the local test
# gateway made to behave like a distant one (20 ms per request, 25 MiB/s per connection).
# First byte (`head -c1`: the item's first read waits for the whole item and its signature)
# and full read (`cat`), cold (empty cache) and warm (cache filled and the item's check
# remembered; page cache dropped). hyperfine, one script; needs root (mount, drop_caches).
#
#   bash bench/item_check.sh [SIZE_MIB] [RUNS]
set -euo pipefail
source "$(dirname "$0")/lib.sh"
size_mib=${1:-100}
runs=${2:-5}
need_tools hyperfine
bench_build
start_testgw --random "${size_mib}MiB" --items "${size_mib}MiB" --latency-ms 20 --bandwidth 25MiB
tx=$(json_field 1 id); tx_sha=$(json_field 1 sha256)
item=$(json_field 2 id); item_sha=$(json_field 2 sha256)
mkdir -p "$work/mnt"
on_exit unmount_at "$work/mnt" -l

# A fresh mount over an empty cache (cold) or over the filled one (warm), page cache dropped.
cat >"$work/fresh.sh" <<EOF
#!/usr/bin/env bash
set -e
"$bin/weavedrive" unmount "$work/mnt" >/dev/null 2>&1 || true
[ "\$1" = cold ] && rm -rf "$work/cache"
"$bin/weavedrive" mount "$work/mnt" --daemon --cache-dir "$work/cache" --gateway "$url" >/dev/null
sync
echo 3 >/proc/sys/vm/drop_caches
EOF
chmod +x "$work/fresh.sh"

# Fill the cache (and check both files) once for the warm runs' sake.
"$work/fresh.sh" cold
check_sha256 "$work/mnt/data/$tx" "$tx_sha" tx
check_sha256 "$work/mnt/data/$item" "$item_sha" item

runs_of() {
  local when=$1
  hyperfine --runs "$runs" --export-json "$work/$when.json" --prepare "$work/fresh.sh $when" \
    -n "$when-first-byte-tx" "head -c1 $work/mnt/data/$tx >/dev/null" \
    -n "$when-first-byte-item" "head -c1 $work/mnt/data/$item >/dev/null" \
    -n "$when-full-tx" "cat $work/mnt/data/$tx >/dev/null" \
    -n "$when-full-item" "cat $work/mnt/data/$item >/dev/null"
}
runs_of cold
runs_of warm
python3 - "$work/cold.json" "$work/warm.json" "$size_mib" <<'PY'
import json, sys
r = {}
for path in sys.argv[1:3]:
    r.update({x["command"]: x for x in json.load(open(path))["results"]})
mib = float(sys.argv[3])
for when in ["cold", "warm"]:
    for what in ["first-byte", "full"]:
        t, i = r[f"{when}-{what}-tx"], r[f"{when}-{what}-item"]
        print(f"{when:<5} {what:<10} tx {t['mean']:7.3f} s ± {t['stddev'] or 0:.3f}   "
              f"item {i['mean']:7.3f} s ± {i['stddev'] or 0:.3f}   item/tx {i['mean'] / t['mean']:6.2f}x")
PY
