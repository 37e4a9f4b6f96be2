#!/usr/bin/env bash
# Mount benchmarks, all in one run against baselines measured in the same run:
#  1. warm sequential 1 MiB reads of a 1 GiB file through the mount vs the same bytes in a
#     local file: with the page cache dropped before each (both read from the disk; ours, a
#     fresh mount of a preloaded cache, served from the extent by FUSE passthrough), and
#     again (page cache);
#  2. warm random 4 KiB preads, same two files, same two states;
#  3. mmap of the whole file and sha256 over the mapping, page cache dropped, same two files;
#  4. cold sequential read of a 256 MiB file from the test gateway behaving like a distant one
#     (20 ms per request, 25 MiB/s per connection) through our mount vs rclone mount
#     (--vfs-cache-mode full, http remote on the same gateway) vs httpfs2.
# Needs root and /dev/fuse. Installs fio, rclone and httpfs2 from Debian if missing.
#
#   bash bench/mount.sh [WARM_MIB] [COLD_MIB]
set -euo pipefail
source "$(dirname "$0")/lib.sh"
warm_mib=${1:-1024}
cold_mib=${2:-256}
need_tools fio rclone httpfs2
bench_build
start_testgw --random "${warm_mib}MiB,${cold_mib}MiB" --latency-ms 20 --bandwidth 25MiB
warm_id=$(json_field 1 id)
cold_id=$(json_field 2 id)
cold_sha=$(json_field 2 sha256)

start_mount() { mount_at "$1" "$2" --disk-cache 4GiB; } # mountpoint cache-dir
fio_bw() { # file rw bs size -> MiB/s
  fio --name=b --filename="$1" --rw="$2" --bs="$3" --size="$4" --ioengine=psync --readonly --invalidate=0 \
      --time_based=0 --output-format=json 2>/dev/null |
    python3 -c 'import json,sys; j=json.load(sys.stdin)["jobs"][0]["read"]; print("%.1f" % (j["bw_bytes"]/1048576))'
}
fio_rand() { # file size -> MiB/s over 10 s of 4 KiB random preads
  fio --name=r --filename="$1" --rw=randread --bs=4k --size="$2" --ioengine=psync --readonly --invalidate=0 \
      --runtime=10 --time_based --output-format=json 2>/dev/null |
    python3 -c 'import json,sys; j=json.load(sys.stdin)["jobs"][0]["read"]; print("%.1f" % (j["bw_bytes"]/1048576))'
}
ratio() { python3 -c "print(f'{$1/$2:.2f}')"; }
drop_caches() { sync; echo 3 >/proc/sys/vm/drop_caches; }
mmap_sha() { # file -> MiB/s of mapping it whole and hashing the mapping (page cache dropped)
  drop_caches
  python3 - "$1" "$warm_mib" <<'PY'
import hashlib, mmap, sys, time
with open(sys.argv[1], "rb") as f:
    t = time.perf_counter()
    with mmap.mmap(f.fileno(), 0, prot=mmap.PROT_READ) as m:
        hashlib.sha256(m).hexdigest()
    print("%.1f" % (int(sys.argv[2]) / (time.perf_counter() - t)))
PY
}
cold_read() { # file label -> MiB/s of reading and hashing all of it, checked
  local t0 t1 got
  # Dirty pages of earlier steps (the warm part writes 2 GiB) must not be written back
  # during whichever read comes first.
  sync
  t0=$(date +%s.%N); got=$(sha256sum "$1" | cut -d' ' -f1); t1=$(date +%s.%N)
  [ "$got" = "$cold_sha" ] || { echo "$2: sha mismatch" >&2; exit 1; }
  python3 -c "print(f'{$cold_mib/($t1-$t0):.1f}')"
}

echo "== warm: preload ${warm_mib} MiB, local copy"
"$bin/weavedrive" preload "$warm_id" --gateway "$url" --cache-dir "$work/cache" --disk-cache 4GiB -q
"$bin/weavedrive" get "$warm_id" --gateway "$url" -o "$work/local.bin" -q --no-cache
cat "$work/local.bin" >/dev/null
size="${warm_mib}m"

io_mode() { getfattr --only-values -n user.weavedrive.io "$1" 2>/dev/null || echo "?"; }
start_mount "$work/mnt" "$work/cache"
mode=$(exec 3<"$work/mnt/data/$warm_id"; io_mode "$work/mnt/data/$warm_id")
# Each file "again" right after its own dropped read: a drop between would empty its cache.
drop_caches; seq_local=$(fio_bw "$work/local.bin" read 1M "$size")
seq_local_again=$(fio_bw "$work/local.bin" read 1M "$size")
drop_caches; seq_first=$(fio_bw "$work/mnt/data/$warm_id" read 1M "$size")
seq_second=$(fio_bw "$work/mnt/data/$warm_id" read 1M "$size")
unmount_at "$work/mnt"
start_mount "$work/mnt" "$work/cache"
drop_caches; rand_local=$(fio_rand "$work/local.bin" "$size")
rand_local_again=$(fio_rand "$work/local.bin" "$size")
drop_caches; rand_first=$(fio_rand "$work/mnt/data/$warm_id" "$size")
rand_second=$(fio_rand "$work/mnt/data/$warm_id" "$size")
unmount_at "$work/mnt"
start_mount "$work/mnt" "$work/cache"
mmap_local=$(mmap_sha "$work/local.bin")
mmap_ours=$(mmap_sha "$work/mnt/data/$warm_id")
unmount_at "$work/mnt"

echo "== cold: ${cold_mib} MiB over the shaped gateway"
start_mount "$work/cold" "$work/cold-cache"
cold_ours=$(cold_read "$work/cold/data/$cold_id" weavedrive)
unmount_at "$work/cold"

serve_mount "$work/rclone" "$work/rclone.log" rclone mount :http: "$work/rclone" --http-url "$url/" \
  --vfs-cache-mode full --cache-dir "$work/rclone-cache" --read-only
cold_rclone=$(cold_read "$work/rclone/$cold_id" rclone)
unmount_at "$work/rclone"

serve_mount "$work/httpfs" "$work/httpfs.log" httpfs2 -f "$url/$cold_id" "$work/httpfs"
cold_httpfs=$(cold_read "$work/httpfs/$cold_id" httpfs2)
unmount_at "$work/httpfs"

best=$(python3 -c "print(max($cold_rclone, $cold_httpfs))")
cat <<EOT

warm, fresh mount of a preloaded cache (served as: ${mode})
sequential 1 MiB (${warm_mib} MiB), page cache dropped: local ${seq_local} MiB/s
  mount ${seq_first} MiB/s = $(ratio "$seq_first" "$seq_local")x local
sequential 1 MiB, again (page cache): local ${seq_local_again} MiB/s
  mount ${seq_second} MiB/s = $(ratio "$seq_second" "$seq_local_again")x local
random 4 KiB (10 s), page cache dropped: local ${rand_local} MiB/s
  mount ${rand_first} MiB/s = $(ratio "$rand_first" "$rand_local")x local
random 4 KiB (10 s), again: local ${rand_local_again} MiB/s
  mount ${rand_second} MiB/s = $(ratio "$rand_second" "$rand_local_again")x local
mmap + sha256 of the mapping, page cache dropped: local ${mmap_local} MiB/s
  mount ${mmap_ours} MiB/s = $(ratio "$mmap_ours" "$mmap_local")x local
cold sequential (${cold_mib} MiB, 20 ms + 25 MiB/s per connection):
  weavedrive mount ${cold_ours} MiB/s, rclone --vfs-cache-mode full ${cold_rclone} MiB/s, httpfs2 ${cold_httpfs} MiB/s
  = $(ratio "$cold_ours" "$best")x the better baseline
EOT
