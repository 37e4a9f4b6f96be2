#!/usr/bin/env bash
# Mount benchmarks, all in one run against baselines measured in the same run:
#  1. warm sequential 1 MiB reads of a 1 GiB file through the mount vs the same bytes in a
#     local file (page cache): first pass after a fresh mount (from the disk cache) and second
#     pass (kernel page cache, kept by FOPEN_KEEP_CACHE);
#  2. warm random 4 KiB preads, same two files;
#  3. cold sequential read of a 256 MiB file from the test gateway behaving like a distant one
#     (20 ms per request, 25 MiB/s per connection) through our mount vs rclone mount
#     (--vfs-cache-mode full, http remote on the same gateway) vs httpfs2.
# Needs root and /dev/fuse. Installs fio, rclone and httpfs2 from Debian if missing.
#
#   bash bench/mount.sh [WARM_MIB] [COLD_MIB]
set -euo pipefail
cd "$(dirname "$0")/.."
warm_mib=${1:-1024}
cold_mib=${2:-256}
for tool in fio rclone httpfs2; do
  command -v $tool >/dev/null || { apt-get update -qq && apt-get install -y -qq fio rclone httpfs2; break; }
done
cargo build --release --quiet -p weavedrive -p weavedrive-testgw
bin=$PWD/target/release
work=$(mktemp -d)
pids=()
mounts=()
cleanup() {
  for m in "${mounts[@]}"; do umount -l "$m" 2>/dev/null || true; done
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

"$bin/weavedrive-testgw" --random "${warm_mib}MiB,${cold_mib}MiB" --latency-ms 20 --bandwidth 25MiB >"$work/gw.out" &
pids+=($!)
for _ in $(seq 600); do grep -q '^READY' "$work/gw.out" 2>/dev/null && break; sleep 0.1; done
url=$(sed -n 's/^READY //p' "$work/gw.out")
warm_id=$(sed -n 1p "$work/gw.out" | python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])')
cold_id=$(sed -n 2p "$work/gw.out" | python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])')
cold_sha=$(sed -n 2p "$work/gw.out" | python3 -c 'import json,sys; print(json.load(sys.stdin)["sha256"])')

wait_mounted() { for _ in $(seq 300); do grep -q " $1 " /proc/mounts && return 0; sleep 0.1; done; echo "no mount at $1" >&2; exit 1; }
start_mount() { # mountpoint cache-dir
  mkdir -p "$1"
  "$bin/weavedrive" mount "$1" --gateway "$url" --cache-dir "$2" --disk-cache 4GiB 2>>"$work/mount.log" &
  pids+=($!); mounts+=("$1"); wait_mounted "$1"
}
stop_mount() { umount "$1"; sleep 0.5; }
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

echo "== warm: preload ${warm_mib} MiB, local copy"
"$bin/weavedrive" preload "$warm_id" --gateway "$url" --cache-dir "$work/cache" --disk-cache 4GiB -q
"$bin/weavedrive" get "$warm_id" --gateway "$url" -o "$work/local.bin" -q
cat "$work/local.bin" >/dev/null
size="${warm_mib}m"

start_mount "$work/mnt" "$work/cache"
seq_first=$(fio_bw "$work/mnt/data/$warm_id" read 1M "$size")
seq_second=$(fio_bw "$work/mnt/data/$warm_id" read 1M "$size")
seq_local=$(fio_bw "$work/local.bin" read 1M "$size")
stop_mount "$work/mnt"
start_mount "$work/mnt" "$work/cache"
rand_first=$(fio_rand "$work/mnt/data/$warm_id" "$size")
rand_second=$(fio_rand "$work/mnt/data/$warm_id" "$size")
rand_local=$(fio_rand "$work/local.bin" "$size")
stop_mount "$work/mnt"

echo "== cold: ${cold_mib} MiB over the shaped gateway"
start_mount "$work/cold" "$work/cold-cache"
t0=$(date +%s.%N); got=$(sha256sum "$work/cold/data/$cold_id" | cut -d' ' -f1); t1=$(date +%s.%N)
[ "$got" = "$cold_sha" ] || { echo "weavedrive: sha mismatch" >&2; exit 1; }
cold_ours=$(python3 -c "print(f'{$cold_mib/($t1-$t0):.1f}')")
stop_mount "$work/cold"

mkdir -p "$work/rclone"
rclone mount :http: "$work/rclone" --http-url "$url/" --vfs-cache-mode full \
  --cache-dir "$work/rclone-cache" --read-only 2>>"$work/rclone.log" &
pids+=($!); mounts+=("$work/rclone"); wait_mounted "$work/rclone"
t0=$(date +%s.%N); got=$(sha256sum "$work/rclone/$cold_id" | cut -d' ' -f1); t1=$(date +%s.%N)
[ "$got" = "$cold_sha" ] || { echo "rclone: sha mismatch" >&2; exit 1; }
cold_rclone=$(python3 -c "print(f'{$cold_mib/($t1-$t0):.1f}')")
umount "$work/rclone"

mkdir -p "$work/httpfs"
httpfs2 -f "$url/$cold_id" "$work/httpfs" 2>>"$work/httpfs.log" &
pids+=($!); mounts+=("$work/httpfs"); wait_mounted "$work/httpfs"
t0=$(date +%s.%N); got=$(sha256sum "$work/httpfs/$cold_id" | cut -d' ' -f1); t1=$(date +%s.%N)
[ "$got" = "$cold_sha" ] || { echo "httpfs2: sha mismatch" >&2; exit 1; }
cold_httpfs=$(python3 -c "print(f'{$cold_mib/($t1-$t0):.1f}')")
umount "$work/httpfs"

best=$(python3 -c "print(max($cold_rclone, $cold_httpfs))")
cat <<EOT

warm sequential 1 MiB (${warm_mib} MiB): local ${seq_local} MiB/s
  mount, fresh (disk cache):  ${seq_first} MiB/s  = $(ratio "$seq_first" "$seq_local")x local
  mount, again (page cache):  ${seq_second} MiB/s  = $(ratio "$seq_second" "$seq_local")x local
warm random 4 KiB (10 s):    local ${rand_local} MiB/s
  mount, fresh (disk cache):  ${rand_first} MiB/s  = $(ratio "$rand_first" "$rand_local")x local
  mount, again (page cache):  ${rand_second} MiB/s  = $(ratio "$rand_second" "$rand_local")x local
cold sequential (${cold_mib} MiB, 20 ms + 25 MiB/s per connection):
  weavedrive mount ${cold_ours} MiB/s, rclone --vfs-cache-mode full ${cold_rclone} MiB/s, httpfs2 ${cold_httpfs} MiB/s
  = $(ratio "$cold_ours" "$best")x the better baseline
EOT
