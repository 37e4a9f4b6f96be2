#!/usr/bin/env bash
# Memory bound of the mount under a long random-read soak: a 2400 MiB transaction, a 64 MiB
# memory budget, READS random preads of 1 B to 1 MiB (half anywhere, half within 64 regions
# read before), every length checked. Reports the mount process's peak RSS (VmHWM) as it goes.
# Needs root and /dev/fuse.
#
#   bash bench/mount_rss.sh [READS] [MEMORY_BUDGET]
set -euo pipefail
source "$(dirname "$0")/lib.sh"
reads=${1:-6000}
budget=${2:-64MiB}
bench_build
start_testgw --random 2400MiB
id=$(json_field 1 id)
mount_at "$work/mnt" "$work/cache" --memory-cache "$budget"

python3 - "$work/mnt/data/$id" "$reads" "$mount_pid" "$budget" <<'PY'
import os, random, sys, time
path, reads, pid, budget = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
def mib(field):
    for line in open(f"/proc/{pid}/status"):
        if line.startswith(field):
            return int(line.split()[1]) / 1024
random.seed(1)
fd = os.open(path, os.O_RDONLY)
size = os.fstat(fd).st_size
hot = [random.randrange(size - 2**20) for _ in range(64)]
total, start = 0, time.time()
for i in range(1, reads + 1):
    at = random.randrange(size) if i % 2 else random.choice(hot) + random.randrange(65536)
    n = min(random.randint(1, 2**20), size - at)
    assert len(os.pread(fd, n, at)) == n, f"short read at {at}"
    total += n
    if i % (reads // 8) == 0 or i == reads:
        print(f"{i:6} reads, {total / 2**20:7.0f} MiB: peak RSS {mib('VmHWM:'):.0f} MiB, "
              f"now {mib('VmRSS:'):.0f} MiB (budget {budget})", flush=True)
print(f"{time.time() - start:.0f} s")
PY
echo "fetched into the disk cache: $(du -sm "$work/cache/blocks" | cut -f1) MiB"
