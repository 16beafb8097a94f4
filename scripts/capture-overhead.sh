#!/usr/bin/env bash
# capture-overhead.sh: measures the overhead of the capture library (docs/traces.md,
# "Overhead"). First the cost per wrapped call, from inside a microbenchmark
# (lockbench, best of 7, so other load matters little); then whole programs: each
# runs RUNS times plainly and RUNS times with libvcpusim_capture.so preloaded,
# alternating, and the medians are compared. The difference is split into the fixed
# start-up cost (measured on /bin/true), writing the trace at exit (reported by the
# library; after the last timestamp, so not in the trace) and recording, the part
# that distorts what is measured.
# usage: scripts/capture-overhead.sh [BUILD_DIR] [RUNS]
set -eu
build=${1:-build}
runs=${2:-9}
lib=$(cd "$build" && pwd)/libvcpusim_capture.so
progs=$build/trace-programs
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
now() { date +%s%N; }
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
measure() {  # NAME PROGRAM ARGS...
  name=$1; shift
  : >"$tmp/plain"; : >"$tmp/cap"
  for i in $(seq "$runs"); do
    t0=$(now); OMP_NUM_THREADS=2 "$@" >/dev/null; t1=$(now)
    echo $(( (t1 - t0) / 1000 )) >>"$tmp/plain"
    t0=$(now)
    OMP_NUM_THREADS=2 LD_PRELOAD=$lib VCPUSIM_TRACE_OUT=$tmp/t.vtr "$@" >/dev/null
    t1=$(now)
    echo $(( (t1 - t0) / 1000 )) >>"$tmp/cap"
  done
  p=$(median <"$tmp/plain"); c=$(median <"$tmp/cap")
  if [ "$name" = start-up ]; then
    fixed=$(( c - p ))
    python3 -c "print('start-up: loading the library and writing a one-thread trace: %.1f ms' % ($fixed / 1e3))"
    return
  fi
  ev=$("$build/vcpusim" trace info "$tmp/t.vtr" --json | python3 -c "import json,sys; print(json.load(sys.stdin)['events'])")
  wr=$(OMP_NUM_THREADS=2 VCPUSIM_CAPTURE_VERBOSE=1 LD_PRELOAD=$lib VCPUSIM_TRACE_OUT=$tmp/t.vtr "$@" 2>&1 >/dev/null |
       grep -o 'in [0-9.]* ms' | cut -d' ' -f2)
  python3 -c "
p, c, ev = $p, $c, $ev
rec = (c - p) / 1e3 - $wr - $fixed / 1e3
print('%-10s plain %7.1f ms  captured %7.1f ms (%+5.1f%%)  %8d events; writing at exit %5.1f ms; recording %+5.1f ms = %+5.1f%% of the run' %
      ('$name', p / 1e3, c / 1e3, 100 * (c - p) / p, ev, $wr, rec, 100 * rec / (p / 1e3)))"
}
echo "per call, plain:    $("$progs/lockbench")"
echo "per call, captured: $(LD_PRELOAD=$lib VCPUSIM_TRACE_OUT=$tmp/lb.vtr "$progs/lockbench")"
echo "(a lock pair records 3 events, a barrier 2)"
fixed=0
measure start-up /bin/true
measure stencil "$progs/stencil" 60000 8000
measure histogram "$progs/histogram" 20000 2000
measure ep "$progs/ep" 100000000
measure locks "$progs/counts" 1 0 200000 0
