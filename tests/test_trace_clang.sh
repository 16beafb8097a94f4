#!/usr/bin/env bash
# test_trace_clang.sh: `vcpusim capture` of OpenMP programs built with clang, which
# run on LLVM's libomp through its __kmpc_* entry points (docs/traces.md). The test
# program traces/programs/counts.c, built here with `clang -fopenmp`, has known
# synchronisation counts: the trace must have exactly them (regions, explicit and
# worksharing barriers, critical sections and omp locks), no warning, and replay.
# A program whose threads call nothing the capture library knows is captured with
# a warning saying so. Debian's clang and libomp-dev are installed here, as a user
# would (apt-get); the test is skipped (77) only if that cannot be done.
# usage: bash test_trace_clang.sh VCPUSIM SOURCE_DIR
set -u
VCPUSIM=$1
SRC=$2
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail=0
bad() { echo "FAIL: $*" >&2; fail=1; }

# --- set-up: clang with LLVM's OpenMP runtime
have_clang_omp() {
  command -v clang >/dev/null 2>&1 &&
    printf '#include <omp.h>\nint main(void){return omp_get_max_threads() < 1;}\n' |
      clang -fopenmp -x c - -o "$tmp/probe" >/dev/null 2>&1
}
if ! have_clang_omp; then
  sudo=""
  if [ "$(id -u)" -ne 0 ]; then
    if sudo -n true 2>/dev/null; then sudo="sudo -n"
    else echo "SKIP: needs clang and libomp-dev (Debian packages), not installed, and not root"; exit 77; fi
  fi
  export DEBIAN_FRONTEND=noninteractive
  if ! { $sudo apt-get -o DPkg::Lock::Timeout=600 update -qq &&
         $sudo apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends clang libomp-dev; } >"$tmp/apt.log" 2>&1; then
    echo "SKIP: cannot install clang and libomp-dev with apt-get: $(tail -n 2 "$tmp/apt.log")"
    exit 77
  fi
  have_clang_omp || { bad "clang -fopenmp does not build after installing clang and libomp-dev"; exit 1; }
fi

clang -fopenmp -O2 -Wall -o "$tmp/counts" "$SRC/traces/programs/counts.c" 2>"$tmp/cc.err" ||
  { bad "clang -fopenmp counts.c: $(cat "$tmp/cc.err")"; exit 1; }
ldd "$tmp/counts" | grep -q 'libomp' || bad "the clang build does not use libomp: $(ldd "$tmp/counts")"

# Per-thread line of `trace info`: "  THREAD EVENTS BARRIERS ACQUISITIONS".
thread_line() { awk -v t="$2" '/^per thread:/ {p=1; next} p && $1 == t {print $3, $4}' "$1"; }

# 2 regions x (3 explicit barriers, 1 omp lock, 1 critical, 4 dynamic loops), 2 threads.
# Per thread: 2*3 explicit + 2*4 loop-end (__kmpc_barrier, implicit) + 2 region ends
# = 16 barriers; 2*(1+1) = 4 acquisitions.
"$VCPUSIM" capture -o "$tmp/c.vtr" --threads 2 -- "$tmp/counts" 2 3 1 1 4 >/dev/null 2>"$tmp/err" ||
  bad "capture of the clang-built counts failed: $(cat "$tmp/err")"
grep -q 'warning' "$tmp/err" && bad "capture warned: $(cat "$tmp/err")"
"$VCPUSIM" trace info "$tmp/c.vtr" >"$tmp/info" 2>&1 || bad "trace info failed: $(cat "$tmp/info")"
grep -q '^threads: *2$' "$tmp/info" || bad "clang counts: expected 2 threads: $(grep threads: "$tmp/info")"
for t in 0 1; do
  [ "$(thread_line "$tmp/info" $t)" = "16 4" ] ||
    bad "clang counts thread $t: got '$(thread_line "$tmp/info" $t)', expected '16 4'"
done
grep -q '^  fork           2$' "$tmp/info" || bad "clang counts: expected 2 forks: $(cat "$tmp/info")"
grep -q '^  region_begin   4$' "$tmp/info" || bad "clang counts: expected 4 region begins"
grep -q '12 explicit, 16 workshare_end' "$tmp/info" ||
  bad "clang counts: barrier classes: $(grep barriers: "$tmp/info")"
grep -q 'locks: *2, 8 acquisitions, 4 critical_named, 4 omp_lock' "$tmp/info" ||
  bad "clang counts: lock classes: $(grep locks: "$tmp/info")"

# 3 threads, other counts: 3 regions x (4 barriers, 2 locks, 0 criticals, no loops):
# per thread 3*4 + 3 = 15 barriers, 6 acquisitions.
"$VCPUSIM" capture -o "$tmp/c3.vtr" --threads 3 -- "$tmp/counts" 3 4 2 0 >/dev/null 2>&1 ||
  bad "capture of clang counts with 3 threads failed"
"$VCPUSIM" trace info "$tmp/c3.vtr" >"$tmp/info3" 2>&1
for t in 0 1 2; do
  [ "$(thread_line "$tmp/info3" $t)" = "15 6" ] ||
    bad "clang counts/3 thread $t: got '$(thread_line "$tmp/info3" $t)', expected '15 6'"
done

# --- replay: the trace as a 2-vCPU VM's program, alone on 2 pCPUs
cat >"$tmp/replay.json" <<EOF
{"name": "clang-replay", "seed": 1, "host": {"pcpus": 2},
 "scheduler": {"policy": "credit"},
 "vms": [{"name": "app", "vcpus": 2, "workload": {"kind": "trace", "file": "c.vtr"}}]}
EOF
"$VCPUSIM" run "$tmp/replay.json" -o "$tmp/r.json" >"$tmp/run.out" 2>&1 || bad "replay failed: $(cat "$tmp/run.out")"
python3 - "$tmp/r.json" <<'PY' || bad "replay of the clang trace: $(cat "$tmp/run.out")"
import json, sys
r = json.load(open(sys.argv[1]))
vm = next(v for v in r["vms"] if v["name"] == "app")
print("clang trace replayed: completion", vm.get("completion_ms"), "ms")
assert vm.get("completion_ms") is not None and vm["completion_ms"] > 0, vm
PY

# --- threads but nothing recognised: a warning
cat >"$tmp/atomics.c" <<'EOF'
#include <pthread.h>
#include <stdatomic.h>
static atomic_long n;
static void *work(void *p) { for (int i = 0; i < 100000; i++) atomic_fetch_add(&n, 1); return p; }
int main(void) {
  pthread_t t[2];
  for (int i = 0; i < 2; i++) pthread_create(&t[i], 0, work, 0);
  for (int i = 0; i < 2; i++) pthread_join(t[i], 0);
  return atomic_load(&n) != 200000;
}
EOF
clang -O2 -pthread -o "$tmp/atomics" "$tmp/atomics.c" || bad "cannot build the atomics program"
"$VCPUSIM" capture -o "$tmp/a.vtr" -- "$tmp/atomics" >/dev/null 2>"$tmp/aerr" || bad "capture of atomics failed: $(cat "$tmp/aerr")"
grep -q 'warning: 3 threads ran but no OpenMP' "$tmp/aerr" || bad "no warning for threads without recognised calls: $(cat "$tmp/aerr")"
# ...and none for a single-threaded program
"$VCPUSIM" capture -o "$tmp/t.vtr" -- true >/dev/null 2>"$tmp/terr" || bad "capture of true"
grep -q 'warning' "$tmp/terr" && bad "capture of true warned: $(cat "$tmp/terr")"

exit $fail
