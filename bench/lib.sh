# Shared set-up for the bench scripts; `source` it after `set -euo pipefail`:
#
#   source "$(dirname "$0")/lib.sh"
#
# Sourcing it moves to the repository root and sets
#   bin   absolute path of target/release
#   work  a fresh temporary directory, removed at exit
# and installs one exit trap that runs every cleanup registered with `on_exit` (mounts,
# processes, the work directory), last registered first, whether the script succeeds, fails
# or is interrupted (INT/TERM exit through the same trap).

cd "$(dirname "${BASH_SOURCE[0]}")/.."
bin=$PWD/target/release

_bench_cleanups=()
declare -A _bench_mount_pid=()

# on_exit CMD [ARG...]: run this command at exit (quoted as given; its failure is ignored).
on_exit() { _bench_cleanups+=("$(printf '%q ' "$@")"); }

_bench_exit() {
  local status=$? i
  trap - EXIT INT TERM
  for ((i = ${#_bench_cleanups[@]} - 1; i >= 0; i--)); do
    eval "${_bench_cleanups[i]}" >/dev/null 2>&1 || true
  done
  exit "$status"
}
trap _bench_exit EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

work=$(mktemp -d)
on_exit rm -rf "$work"

# need_tools TOOL...: install from Debian (package = command name) whichever are missing.
need_tools() {
  local missing=() tool
  for tool in "$@"; do command -v "$tool" >/dev/null || missing+=("$tool"); done
  [ ${#missing[@]} -eq 0 ] || { apt-get update -qq && apt-get install -y -qq "${missing[@]}"; }
}

# bench_build [CARGO ARGS...]: release build of weavedrive and the test gateway, plus whatever
# else is asked for (e.g. `--example read_through_drive`, `-p weavedrive-minilm`).
bench_build() { cargo build --release --quiet -p weavedrive -p weavedrive-testgw "$@"; }

# stop_process PID: kill it and reap it.
stop_process() { kill "$1" 2>/dev/null || true; wait "$1" 2>/dev/null || true; }

# start_testgw ARGS...: start weavedrive-testgw with ARGS in the background (stopped at exit),
# wait for its READY line and set
#   url          the gateway's base URL
#   testgw_pid   its process id
#   testgw_out   its output: one JSON line per transaction or item ({id, size, sha256, ...}),
#                then {bundle} if it made one, then `READY <url>`; read it with json_field.
start_testgw() {
  # One output file per gateway: a script may start several.
  testgw_out=$(mktemp -p "$work" gw.XXXXXX.out)
  "$bin/weavedrive-testgw" "$@" >"$testgw_out" &
  testgw_pid=$!
  on_exit stop_process "$testgw_pid"
  until grep -q '^READY' "$testgw_out" 2>/dev/null; do
    kill -0 "$testgw_pid" 2>/dev/null || { echo "weavedrive-testgw $* exited before READY" >&2; return 1; }
    sleep 0.1
  done
  url=$(sed -n 's/^READY //p' "$testgw_out")
}

# json_field LINE KEY: KEY of the test gateway's LINE-th JSON line (1 = the first file).
json_field() {
  sed -n "$1p" "$testgw_out" | python3 -c "import json,sys; print(json.load(sys.stdin)[sys.argv[1]])" "$2"
}

# check_sha256 FILE EXPECTED [LABEL]: fail, naming LABEL (default FILE's base name), unless
# FILE's sha256 is EXPECTED.
check_sha256() {
  [ "$(sha256sum <"$1" | cut -d' ' -f1)" = "$2" ] || { echo "${3:-$(basename "$1")}: sha256 mismatch" >&2; return 1; }
}

is_mounted() { awk -v m="$1" '$5 == m { found = 1 } END { exit !found }' /proc/self/mountinfo; }

# unmount_at MOUNTPOINT [-l]: unmount (umount, else fusermount3 -u) and reap the process
# serving it if serve_mount started it. -l (for cleanup): detach lazily, never fail, and
# stop that process rather than wait for open files to close.
unmount_at() {
  local pid=${_bench_mount_pid[$1]:-}
  if [ "${2:-}" = -l ]; then
    umount -l "$1" 2>/dev/null || fusermount3 -uz "$1" 2>/dev/null || true
    [ -z "$pid" ] || kill "$pid" 2>/dev/null || true
  else
    umount "$1" 2>/dev/null || fusermount3 -u "$1"
  fi
  [ -z "$pid" ] || wait "$pid" 2>/dev/null || true
  unset "_bench_mount_pid[$1]"
}

# serve_mount MOUNTPOINT LOG CMD [ARG...]: run a FUSE server CMD in the background (stderr
# appended to LOG, shown if it dies before mounting), wait until MOUNTPOINT is mounted and
# set mount_pid; unmounted at exit.
serve_mount() {
  local mountpoint=$1 log=$2
  shift 2
  mkdir -p "$mountpoint"
  "$@" 2>>"$log" &
  mount_pid=$!
  _bench_mount_pid[$mountpoint]=$mount_pid
  on_exit unmount_at "$mountpoint" -l
  until is_mounted "$mountpoint"; do
    if ! kill -0 "$mount_pid" 2>/dev/null; then
      echo "no mount at $mountpoint: $1 exited; its log:" >&2
      tail -n 20 "$log" >&2
      return 1
    fi
    sleep 0.1
  done
}

# mount_at MOUNTPOINT CACHE_DIR [MOUNT ARGS...]: `weavedrive mount` of the test gateway.
# Without `--daemon` the mount process is our background child (serve_mount), logging to
# $work/mount.log, its pid in mount_pid; with `--daemon` among the args this returns once the
# daemon has mounted. Either way it is unmounted at exit.
mount_at() {
  local mountpoint=$1 cache=$2
  shift 2
  local cmd=("$bin/weavedrive" mount "$mountpoint" --gateway "$url" --cache-dir "$cache" "$@")
  if [[ " $* " == *" --daemon "* ]]; then
    mkdir -p "$mountpoint"
    on_exit unmount_at "$mountpoint" -l
    "${cmd[@]}"
  else
    serve_mount "$mountpoint" "$work/mount.log" "${cmd[@]}"
  fi
}

# remount_script MOUNTPOINT CACHE: write $work/remount.sh, which (re)mounts MOUNTPOINT as a
# daemon over CACHE and drops the page cache: a hyperfine --prepare for "warm from our disk
# cache, fresh mount". Registers the unmount at exit and sets `remount` to the script's path
# (not printed: a command substitution's subshell would lose the exit registration).
remount_script() {
  local mountpoint=$1 cache=$2
  mkdir -p "$mountpoint"
  on_exit unmount_at "$mountpoint" -l
  cat >"$work/remount.sh" <<REMOUNT
"$bin/weavedrive" unmount "$mountpoint" >/dev/null 2>&1 || true
"$bin/weavedrive" mount "$mountpoint" --daemon --gateway "$url" --cache-dir "$cache" >/dev/null
sync; echo 3 > /proc/sys/vm/drop_caches
REMOUNT
  remount=$work/remount.sh
}
