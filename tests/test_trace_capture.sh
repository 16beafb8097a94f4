#!/usr/bin/env bash
# test_trace_capture.sh: `vcpusim capture` and `vcpusim trace info` (docs/traces.md).
# Programs with known synchronisation counts give exactly those counts in the trace;
# corrupt, truncated, empty and non-trace files (and unreadable OTF2 archives) exit 2
# with a message naming the file; a program that cannot be run exits 2.
# usage: bash test_trace_capture.sh VCPUSIM SOURCE_DIR
set -u
VCPUSIM=$1
PROGS=$(dirname "$VCPUSIM")/trace-programs
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail=0
bad() { echo "FAIL: $*" >&2; fail=1; }

# Per-thread line of `trace info`: "  THREAD EVENTS BARRIERS ACQUISITIONS".
thread_line() { awk -v t="$2" '/^per thread:/ {p=1; next} p && $1 == t {print $3, $4}' "$1"; }

# --- OpenMP: 3 regions x (5 barriers, 7 omp locks, 4 criticals), 2 threads.
# Per thread: 3*5 explicit + 3 region-end barriers = 18, 3*(7+4) = 33 acquisitions.
if ! "$VCPUSIM" capture -o "$tmp/c.vtr" --threads 2 -- "$PROGS/counts" 3 5 7 4 >/dev/null 2>"$tmp/err"; then
  bad "capture of counts failed: $(cat "$tmp/err")"
fi
"$VCPUSIM" trace info "$tmp/c.vtr" >"$tmp/info" 2>&1 || bad "trace info failed: $(cat "$tmp/info")"
grep -q '^threads: *2$' "$tmp/info" || bad "counts: expected 2 threads"
for t in 0 1; do
  [ "$(thread_line "$tmp/info" $t)" = "18 33" ] || bad "counts thread $t: got '$(thread_line "$tmp/info" $t)', expected '18 33'"
done
grep -q '^  region_begin   6$' "$tmp/info" || bad "counts: expected 6 region begins"
grep -q '^  fork           3$' "$tmp/info" || bad "counts: expected 3 forks"
grep -q 'locks: *2, 66 acquisitions, 24 critical, 42 omp_lock' "$tmp/info" || bad "counts: lock classes: $(grep locks: "$tmp/info")"

# Same program, 3 threads, other counts: 2 regions x (4 barriers, 0 locks, 3 criticals).
"$VCPUSIM" capture -o "$tmp/c3.vtr" --threads 3 -- "$PROGS/counts" 2 4 0 3 >/dev/null 2>&1 || bad "capture counts 3 threads"
"$VCPUSIM" trace info "$tmp/c3.vtr" >"$tmp/info3" 2>&1
for t in 0 1 2; do
  [ "$(thread_line "$tmp/info3" $t)" = "10 6" ] || bad "counts/3 thread $t: got '$(thread_line "$tmp/info3" $t)', expected '10 6'"
done

# Dynamically scheduled loops end at GOMP_loop_end: 2 regions x (3 barriers, 1 lock,
# 1 critical, 4 loops): 2*3 + 2*4 + 2 region ends = 16 barriers, 4 acquisitions.
"$VCPUSIM" capture -o "$tmp/cl.vtr" --threads 2 -- "$PROGS/counts" 2 3 1 1 4 >/dev/null 2>&1 || bad "capture counts with loops"
"$VCPUSIM" trace info "$tmp/cl.vtr" >"$tmp/infol" 2>&1
for t in 0 1; do
  [ "$(thread_line "$tmp/infol" $t)" = "16 4" ] || bad "counts/loops thread $t: got '$(thread_line "$tmp/infol" $t)', expected '16 4'"
done
grep -q '12 explicit, 16 workshare_end' "$tmp/infol" || bad "counts/loops: barrier classes: $(grep barriers: "$tmp/infol")"

# --- pthreads: 3 threads x (4 barriers, 6 mutex, 2 spin); main only creates/joins.
"$VCPUSIM" capture -o "$tmp/p.vtr" -- "$PROGS/pcounts" 3 4 6 2 >/dev/null 2>&1 || bad "capture of pcounts failed"
"$VCPUSIM" trace info "$tmp/p.vtr" >"$tmp/pinfo" 2>&1
grep -q '^threads: *3$' "$tmp/pinfo" || bad "pcounts: expected 3 threads: $(grep threads: "$tmp/pinfo")"
for t in 0 1 2; do
  [ "$(thread_line "$tmp/pinfo" $t)" = "4 8" ] || bad "pcounts thread $t: got '$(thread_line "$tmp/pinfo" $t)', expected '4 8'"
done
grep -q '18 pthread_mutex, 6 pthread_spin' "$tmp/pinfo" || bad "pcounts: lock classes"

# --- memory-map calls: 3 threads x 10 rounds x (mprotect, madvise DONTNEED, shrinking
# mremap, munmap); a WILLNEED madvise and a failing munmap are not recorded.
"$VCPUSIM" capture -o "$tmp/m.vtr" -- "$PROGS/mmaps" 3 10 >/dev/null 2>"$tmp/merr" || bad "capture of mmaps: $(cat "$tmp/merr")"
"$VCPUSIM" trace info "$tmp/m.vtr" >"$tmp/minfo" 2>&1
grep -q '^tlb flushes:  120 calls, .* 30 munmap, 30 mprotect, 30 madvise, 30 mremap$' "$tmp/minfo" ||
  bad "mmaps: $(grep 'tlb flushes' "$tmp/minfo")"
grep -q 'version 2' "$tmp/minfo" || bad "mmaps: a trace with tlb_flush events is version 2"
for t in 0 1 2; do
  [ "$(thread_line "$tmp/minfo" $t)" = "10 0" ] || bad "mmaps thread $t: $(thread_line "$tmp/minfo" $t)"
done
grep -q 'version 1' "$tmp/info" || bad "counts: a trace without them stays version 1"
# the replay: each call is a TLB shootdown of the other vCPUs running the program
cat >"$tmp/m.json" <<J
{"host": {"pcpus": 3}, "vms": [{"name": "m", "vcpus": 3, "workload": {"kind": "trace", "file": "m.vtr"}}]}
J
"$VCPUSIM" run "$tmp/m.json" --check -o "$tmp/mr.json" 2>"$tmp/merr" || bad "replay of mmaps: $(cat "$tmp/merr")"
python3 - "$tmp/mr.json" <<'PY' || bad "mmaps replay: shootdowns"
import json, sys
k = json.load(open(sys.argv[1]))["vms"][0]["kernel_waits"]["tlb_shootdown"]
assert k["waits"] == 120 and 0 < k["ipis"] <= 240, k
PY
"$VCPUSIM" trace info "$tmp/m.vtr" --json | python3 -c '
import json, sys
f = json.load(sys.stdin)["tlb_flushes"]
assert f["calls"] == 120 and f["munmap"] == 30 and f["per_second"] > 0, f' || bad "mmaps: trace info --json"

# --- conversion keeps everything
"$VCPUSIM" trace convert "$tmp/c.vtr" -o "$tmp/c2.vtr" || bad "convert"
cmp -s "$tmp/c.vtr" "$tmp/c2.vtr" || bad "convert of a vcpusim trace is not byte-identical"

# --- bad input: exit 2, message naming the file
expect2() {  # FILE WHAT
  "$VCPUSIM" trace info "$1" >"$tmp/out" 2>"$tmp/msg"
  rc=$?
  [ $rc -eq 2 ] || bad "$2: exit $rc, expected 2"
  grep -qF "$1" "$tmp/msg" || bad "$2: message does not name the file: $(cat "$tmp/msg")"
  grep -qF "$3" "$tmp/msg" || bad "$2: message lacks '$3': $(cat "$tmp/msg")"
}
: >"$tmp/empty.vtr"
expect2 "$tmp/empty.vtr" "empty file" "empty"
size=$(stat -c %s "$tmp/c.vtr")
for n in 5 30 $((size / 2)) $((size - 1)); do
  head -c "$n" "$tmp/c.vtr" >"$tmp/trunc$n.vtr"
  expect2 "$tmp/trunc$n.vtr" "truncated to $n bytes" "truncated"
done
for off in 9 40 $((size / 2)) $((size - 2)); do
  cp "$tmp/c.vtr" "$tmp/flip$off.vtr"
  b=$(od -An -tu1 -j "$off" -N1 "$tmp/c.vtr" | tr -d ' ')
  printf "$(printf '\\%03o' $(( (b ^ 4) & 255 )))" | dd of="$tmp/flip$off.vtr" bs=1 seek="$off" conv=notrunc status=none
  expect2 "$tmp/flip$off.vtr" "bit flip at $off" "$tmp/flip$off.vtr: "
done
echo '{"not": "a trace"}' >"$tmp/json.vtr"
expect2 "$tmp/json.vtr" "JSON file" "not a vcpusim trace"
expect2 "$tmp/missing.vtr" "missing file" "cannot open"
expect2 "$tmp" "directory" "directory"
echo "garbage" >"$tmp/bad.otf2"
expect2 "$tmp/bad.otf2" "garbage OTF2 anchor" "OTF2"
: >"$tmp/empty.otf2"
expect2 "$tmp/empty.otf2" "empty OTF2 anchor" "OTF2"

# --- --clock cpu: the same events; compute in each thread's CPU time. 8 ep threads
# on this machine's cores: the threads' compute cannot add up to more than
# cores x duration (it would with the wall clock, which counts the time a thread
# waited for a core as its work, checked when there are fewer than 8 cores).
"$VCPUSIM" capture -o "$tmp/cc.vtr" --threads 2 --clock cpu -- "$PROGS/counts" 3 5 7 4 >/dev/null 2>&1 ||
  bad "capture --clock cpu of counts failed"
"$VCPUSIM" trace info "$tmp/cc.vtr" >"$tmp/ccinfo" 2>&1
for t in 0 1; do
  [ "$(thread_line "$tmp/ccinfo" $t)" = "18 33" ] || bad "counts --clock cpu thread $t: got '$(thread_line "$tmp/ccinfo" $t)'"
done
grep -q '^clock: *cpu: busy intervals CLOCK_THREAD_CPUTIME_ID, waits ' "$tmp/ccinfo" ||
  bad "--clock cpu: header clock: $(grep clock: "$tmp/ccinfo")"
"$VCPUSIM" capture -o "$tmp/pc.vtr" --clock cpu -- "$PROGS/pcounts" 3 4 6 2 >/dev/null 2>&1 ||
  bad "capture --clock cpu of pcounts failed"
"$VCPUSIM" trace info "$tmp/pc.vtr" >"$tmp/pcinfo" 2>&1
for t in 0 1 2; do
  [ "$(thread_line "$tmp/pcinfo" $t)" = "4 8" ] || bad "pcounts --clock cpu thread $t: got '$(thread_line "$tmp/pcinfo" $t)'"
done
cores=$(nproc)
for clk in cpu wall; do
  "$VCPUSIM" capture -o "$tmp/ep-$clk.vtr" --threads 8 --clock $clk -- "$PROGS/ep" 100000000 >/dev/null 2>&1 ||
    bad "capture --clock $clk of ep failed"
  "$VCPUSIM" trace info "$tmp/ep-$clk.vtr" --json >"$tmp/ep-$clk.json" 2>&1
done
python3 - "$tmp" "$cores" <<'PY' || bad "--clock cpu: compute of 8 ep threads"
import json, sys
tmp, cores = sys.argv[1], int(sys.argv[2])
cpu, wall = (json.load(open(f"{tmp}/ep-{c}.json")) for c in ("cpu", "wall"))
print(f"ep, 8 threads on {cores} cores: compute {cpu['compute_ms']:.1f} ms (--clock cpu), "
      f"{wall['compute_ms']:.1f} ms (wall), duration {cpu['duration_ms']:.1f} ms")
assert cpu["compute_ms"] <= cores * cpu["duration_ms"] * 1.05 + 5, "more CPU time than the cores had"
if cores < 8:
    assert wall["compute_ms"] >= 1.5 * cores * wall["duration_ms"], "wall clock should count waiting for a core"
PY
# One timeline across threads: in a --clock cpu capture of 4 stencil threads on this
# machine's cores, no thread leaves a barrier before the last one arrived (the
# per-thread CPU-time stamps are put back in order at exit).
"$VCPUSIM" capture -o "$tmp/st4.vtr" --threads 4 --clock cpu -- "$PROGS/stencil" 60000 500 >/dev/null 2>&1 ||
  bad "capture --clock cpu of stencil failed"
python3 - "$tmp/st4.vtr" <<'PY' || bad "--clock cpu: barrier order across threads"
import sys
def uv(b, p):
    r = s = 0
    while True:
        x = b[p]; p += 1; r |= (x & 0x7f) << s; s += 7
        if not x & 0x80: return r, p
b = open(sys.argv[1], "rb").read()   # traces/FORMAT.md
p = 8 + 4 + 8
nt, p = uv(b, p); nl, p = uv(b, p)
for _ in range(3):                    # clock, program, host
    l, p = uv(b, p); p += l
_, p = uv(b, p); _, p = uv(b, p)      # start, duration
for _ in range(nl):
    _, p = uv(b, p); l, p = uv(b, p); p += l
enters, exits = [], []
for _ in range(nt):
    n, p = uv(b, p); t = 0; en, ex = [], []
    for _ in range(n):
        k = b[p]; p += 1; dt, p = uv(b, p); t += dt
        if k in (4, 6, 8, 9, 10): _, p = uv(b, p)
        (en if k == 6 else ex if k == 7 else []).append(t)
    enters.append(en); exits.append(ex)
last = [max(e[i] for e in enters) for i in range(len(enters[0]))]
early = sum(x[i] < last[i] for x in exits for i in range(len(last)))
print(f"--clock cpu stencil, {nt} threads: {early} of {nt * len(last)} barrier exits before the last arrival")
assert nt == 4 and len(last) == 500 and early == 0
PY
"$VCPUSIM" capture -o "$tmp/x.vtr" --clock tsc -- "$PROGS/counts" 1 1 1 1 >/dev/null 2>"$tmp/msg"
[ $? -eq 2 ] || bad "capture --clock tsc: expected exit 2"
grep -q "expected wall or cpu" "$tmp/msg" || bad "capture --clock tsc: $(cat "$tmp/msg")"

# --- capture errors
"$VCPUSIM" capture -o "$tmp/x.vtr" -- "$tmp/no-such-program" >/dev/null 2>"$tmp/msg"
[ $? -eq 2 ] || bad "capture of a missing program: expected exit 2"
grep -q "cannot run" "$tmp/msg" || bad "capture of a missing program: $(cat "$tmp/msg")"
[ -e "$tmp/x.vtr" ] && bad "capture of a missing program left a trace"
"$VCPUSIM" capture -o "$tmp/x.vtr" --threads two -- "$PROGS/counts" 1 1 1 1 >/dev/null 2>&1
[ $? -eq 2 ] || bad "capture --threads two: expected exit 2"
"$VCPUSIM" capture -o "$tmp/no/such/dir/x.vtr" -- "$PROGS/counts" 1 1 1 1 >/dev/null 2>"$tmp/msg"
[ $? -eq 2 ] || bad "capture into a missing directory: expected exit 2"
grep -q "cannot write" "$tmp/msg" || bad "capture into a missing directory: $(cat "$tmp/msg")"
"$VCPUSIM" trace info >/dev/null 2>&1
[ $? -eq 2 ] || bad "trace info without a file: expected exit 2"
# a program without synchronisation in a thread that created none: one thread
"$VCPUSIM" capture -o "$tmp/true.vtr" -- true >/dev/null 2>&1 || bad "capture of true"
"$VCPUSIM" trace info "$tmp/true.vtr" 2>&1 | grep -q '^threads: *1$' || bad "capture of true: expected 1 thread"
ls "$tmp" | grep -q capture && bad "a temporary capture file was left behind"

exit $fail
