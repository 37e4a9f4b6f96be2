#!/usr/bin/env bash
# Warm reads (issue 18): a preloaded file through a fresh mount against the same bytes in a
# local file on the same disk, each measured by hyperfine in one run of this script:
#  1. sequential 1 MiB reads of the whole file (`dd bs=1M`), page cache dropped before each
#     run (the mount remounted too), then again from the page cache;
#  2. random 4 KiB preads (fio, psync, 5 s), page cache dropped, then warm (read whole first);
#  3. mmap of the whole file and SHA-256 over the mapping, page cache dropped.
# With `off` as the third argument the mount runs with `--passthrough off` (reads served by
# us from the extent file), as on a kernel without FUSE passthrough.
# Needs root and /dev/fuse. Installs fio and hyperfine from Debian if missing.
#
#   bash bench/warm.sh [MIB] [RUNS] [auto|off]
set -euo pipefail
source "$(dirname "$0")/lib.sh"
mib=${1:-1024}
runs=${2:-5}
passthrough=${3:-auto}
need_tools fio hyperfine
bench_build
start_testgw --random "${mib}MiB"
id=$(json_field 1 id)
sha=$(json_field 1 sha256)
"$bin/weavedrive" preload "$id" --gateway "$url" --cache-dir "$work/cache" -q
"$bin/weavedrive" get "$id" --gateway "$url" -o "$work/local.bin" -q --no-cache
check_sha256 "$work/local.bin" "$sha" local
ls "$work/cache/extents/$id" >/dev/null

mnt=$work/mnt
mkdir -p "$mnt"
on_exit unmount_at "$mnt" -l
cat >"$work/remount.sh" <<REMOUNT
"$bin/weavedrive" unmount "$mnt" >/dev/null 2>&1 || true
WEAVEDRIVE_PASSTHROUGH=$passthrough "$bin/weavedrive" mount "$mnt" --daemon --gateway "$url" --cache-dir "$work/cache" >/dev/null
sync; echo 3 > /proc/sys/vm/drop_caches
REMOUNT
drop='sync; echo 3 > /proc/sys/vm/drop_caches'
ours=$mnt/data/$id
bash "$work/remount.sh"
mode=$(exec 3<"$ours"; getfattr --only-values -n user.weavedrive.io "$ours")

cat >"$work/mmap_sha.py" <<'PY'
import hashlib, mmap, sys
with open(sys.argv[1], "rb") as f, mmap.mmap(f.fileno(), 0, prot=mmap.PROT_READ) as m:
    print(hashlib.sha256(m).hexdigest())
PY
mean() { python3 -c 'import json,sys; r=json.load(open(sys.argv[1]))["results"]; print(" ".join("%.4f" % x["mean"] for x in r))' "$1"; }
fio_rand() { # file -> MiB/s of 4 KiB random preads over 5 s
  fio --name=r --filename="$1" --rw=randread --bs=4k --size="${mib}m" --ioengine=psync --readonly \
      --invalidate=0 --runtime=5 --time_based --output-format=json 2>/dev/null |
    python3 -c 'import json,sys; j=json.load(sys.stdin)["jobs"][0]["read"]; print("%.1f" % (j["bw_bytes"]/1048576))'
}
median() { python3 -c 'import statistics,sys; print(statistics.median(map(float, sys.argv[1:])))' "$@"; }

echo "== sequential 1 MiB, page cache dropped (ours: fresh mount each run)"
hyperfine -N --runs "$runs" --export-json "$work/seq.json" \
  --prepare "bash -c '$drop'" "dd if=$work/local.bin of=/dev/null bs=1M" \
  --prepare "bash $work/remount.sh" "dd if=$ours of=/dev/null bs=1M"
echo "== sequential 1 MiB, page cache warm"
hyperfine -N --runs "$runs" --warmup 1 --export-json "$work/seq_warm.json" \
  "dd if=$work/local.bin of=/dev/null bs=1M" "dd if=$ours of=/dev/null bs=1M"
echo "== mmap + sha256, page cache dropped"
hyperfine -N --runs "$runs" --export-json "$work/mmap.json" \
  --prepare "bash -c '$drop'" "python3 $work/mmap_sha.py $work/local.bin" \
  --prepare "bash $work/remount.sh" "python3 $work/mmap_sha.py $ours"
echo "== random 4 KiB, 5 s each, alternating, $runs rounds"
rl=() ro=() wl=() wo=()
for _ in $(seq "$runs"); do
  eval "$drop"; rl+=("$(fio_rand "$work/local.bin")")
  bash "$work/remount.sh"; ro+=("$(fio_rand "$ours")")
  cat "$work/local.bin" >/dev/null; wl+=("$(fio_rand "$work/local.bin")")
  cat "$ours" >/dev/null; wo+=("$(fio_rand "$ours")")
done

read -r seq_l seq_o < <(mean "$work/seq.json")
read -r seqw_l seqw_o < <(mean "$work/seq_warm.json")
read -r mm_l mm_o < <(mean "$work/mmap.json")
r_l=$(median "${rl[@]}") r_o=$(median "${ro[@]}") w_l=$(median "${wl[@]}") w_o=$(median "${wo[@]}")
x() { python3 -c "print(f'{$1:.2f}')"; }
cat <<EOT

${mib} MiB, fresh mount of a preloaded cache, served as: ${mode} (--passthrough ${passthrough})
sequential 1 MiB, dropped:  local ${seq_l} s, mount ${seq_o} s  = $(x "$seq_l/$seq_o")x local's speed
sequential 1 MiB, warm:     local ${seqw_l} s, mount ${seqw_o} s  = $(x "$seqw_l/$seqw_o")x
mmap + sha256, dropped:     local ${mm_l} s, mount ${mm_o} s  = $(x "$mm_l/$mm_o")x
random 4 KiB, dropped:      local ${r_l} MiB/s, mount ${r_o} MiB/s  = $(x "$r_o/$r_l")x   (medians of ${runs})
random 4 KiB, warm:         local ${w_l} MiB/s, mount ${w_o} MiB/s  = $(x "$w_o/$w_l")x
EOT
