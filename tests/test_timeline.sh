#!/usr/bin/env bash
# test_timeline.sh: `run --trace` writes valid Trace Event Format JSON with pCPU
# slices that never overlap, runnable/idle counters, long waits as instants and
# (asman) coscheduling spans; `plot --timeline` draws it. Usage: VCPUSIM SRCDIR
set -u
bin=$1 src=$2
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
pass=0 fail=0
ok() { pass=$((pass + 1)); }
bad() { fail=$((fail + 1)); echo "FAIL: $*"; }
"$bin" run --quiet --set stop.max_ms=2000 --trace "$tmp/convoy.json" -o "$tmp/r1.json" 2>/dev/null
"$bin" run "$src/scenarios/tradeoff/asman.json" --quiet --set stop.max_ms=3000 --trace "$tmp/asman.json" -o "$tmp/r2.json" 2>/dev/null
python3 - "$tmp/convoy.json" "$tmp/asman.json" "$tmp/r1.json" <<'PY' && ok || bad "trace contents"
import json, sys
conv, asman, res = (json.load(open(f)) for f in sys.argv[1:4])
def check(d, want_mode):
    ev = d["traceEvents"]
    by = {}
    for e in ev:
        if e.get("ph") == "X" and e.get("cat") == "vcpu":
            by.setdefault(e["args"]["pcpu"], []).append((e["ts"], e["ts"] + e["dur"]))
    assert by, "no pCPU slices"
    for s in by.values():
        s.sort()
        assert all(a[1] <= b[0] + 1e-6 for a, b in zip(s, s[1:])), "overlapping slices"
    assert any(e.get("ph") == "C" for e in ev), "no counters"
    if want_mode:
        assert any(e.get("cat") == "mode" for e in ev), "no coscheduling spans or switches"
    return ev
ev = check(conv, False)
lw = [e for e in ev if e.get("name") == "long wait"]
assert len(lw) == res["vms"][0]["spin"]["long_waits"], (len(lw), res["vms"][0]["spin"]["long_waits"])
assert len(lw) > 0
check(asman, True)
PY
# Perfetto: no pid or tid 0 (the kernel's idle task there), every tid under one pid
# only; a state track per vCPU whose running + spinning time equals that vCPU's
# slices on the pCPU tracks, states never overlapping; long waits as spans on wait
# tracks; the run's metadata. And --trace-from/--trace-to: exactly the full trace's
# slices clipped to the window. VM names are JSON-escaped.
"$bin" run --quiet --set stop.max_ms=2000 --trace "$tmp/win.json" --trace-from 500 --trace-to 800 \
  -o "$tmp/r3.json" 2>/dev/null || bad "--trace-from/--trace-to run"
python3 - "$tmp/convoy.json" "$tmp/r1.json" "$tmp/win.json" "$tmp/asman.json" <<'PY' && ok || bad "Perfetto tracks, metadata, window"
import json, sys
d, res, win, asman = (json.load(open(f)) for f in sys.argv[1:5])
for t in (d, win, asman):
    ev = t["traceEvents"]
    assert all(e.get("pid") != 0 for e in ev), "pid 0 used"
    assert all(e.get("tid") != 0 for e in ev if "tid" in e), "tid 0 used"
    owner = {}
    for e in ev:
        if "tid" in e:
            assert owner.setdefault(e["tid"], e["pid"]) == e["pid"], ("tid under two pids", e)
md = d["metadata"]
assert md["scenario"] == res["scenario"] and md["policy"] == "credit" and md["seed"] == 1, md
assert md["clock"] == "simulated" and md["version"], md
ev = d["traceEvents"]
names = {(e["pid"], e["tid"]): e["args"]["name"] for e in ev if e.get("name") == "thread_name"}
ran, states = {}, {}
for e in ev:
    if e.get("ph") != "X":
        continue
    if e.get("cat") == "vcpu":
        k = (e["args"]["vm"], e["args"]["vcpu"])
        ran[k] = ran.get(k, 0) + e["dur"]
    elif e.get("cat") == "state":
        assert e["name"] in ("running", "runnable", "blocked", "spinning"), e
        states.setdefault((e["pid"], e["tid"]), []).append(e)
assert len(states) == 8, f"expected 8 vCPU state tracks, got {len(states)}"
seen = set()
for (pid, tid), sp in states.items():
    sp.sort(key=lambda e: e["ts"])
    assert all(a["ts"] + a["dur"] <= b["ts"] + 1e-6 for a, b in zip(sp, sp[1:])), "states overlap"
    vm = next(e["args"]["name"] for e in ev if e.get("name") == "process_name" and e["pid"] == pid)[3:]
    idx = int(names[(pid, tid)].split()[1])
    busy = sum(e["dur"] for e in sp if e["name"] in ("running", "spinning"))
    assert abs(busy - ran.get((vm, idx), 0)) < 1e-3 * len(sp) + 1e-6, (vm, idx, busy, ran.get((vm, idx)))
    seen |= {e["name"] for e in sp}
assert {"running", "runnable", "spinning"} <= seen, seen
lw = [e for e in ev if e.get("name") == "long wait"]
assert lw and all(e["ph"] == "X" and e["dur"] > 0 for e in lw)
assert len(lw) == res["vms"][0]["spin"]["long_waits"]
# the window: the full trace's pCPU slices clipped to [500, 800) ms, nothing outside
a, b = 500e3, 800e3
def clipped(t):
    out = []
    for e in t["traceEvents"]:
        if e.get("ph") == "X" and e.get("cat") == "vcpu":
            s, f = max(e["ts"], a), min(e["ts"] + e["dur"], b)
            if f > s:
                out.append((e["args"]["pcpu"], e["name"], round(s, 3), round(f, 3)))
    return sorted(out)
full, part = clipped(d), clipped(win)
assert part and len(part) == len(full), (len(full), len(part))
assert all(x[:2] == y[:2] and abs(x[2] - y[2]) < 2e-3 and abs(x[3] - y[3]) < 2e-3 for x, y in zip(full, part))
for e in win["traceEvents"]:
    if "ts" in e:
        assert a - 1e-6 <= e["ts"] and e["ts"] + e.get("dur", 0) <= b + 1e-3, e
assert win["metadata"]["window_ms"] == [500, 800], win["metadata"]
PY
"$bin" run --quiet --set stop.max_ms=300 --set 'name="a\"b\\c d"' --trace "$tmp/esc.json" -o "$tmp/r4.json" 2>/dev/null ||
  bad "run with an odd scenario name"
python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); assert d["metadata"]["scenario"]=="a\"b\\c d", d["metadata"]' \
  "$tmp/esc.json" && ok || bad "scenario name not escaped in the trace"
"$bin" run --quiet --trace-from 5 -o "$tmp/r5.json" 2>/dev/null; [ $? -eq 2 ] && ok || bad "--trace-from without --trace should exit 2"
"$bin" run --quiet --trace "$tmp/x.json" --trace-from 5 --trace-to 5 2>/dev/null; [ $? -eq 2 ] && ok || bad "--trace-to <= --trace-from should exit 2"
"$bin" run --quiet --trace "$tmp/x.json" --trace-from abc 2>/dev/null; [ $? -eq 2 ] && ok || bad "--trace-from abc should exit 2"
# a trace file is untrusted: a VM name with a backquoted command reaches the
# gnuplot script only inside single quotes (gnuplot ran it from the double-quoted
# names list before), and a newline in it does not start a data row
printf '{"traceEvents":[{"name":"a","cat":"vcpu","ph":"X","pid":1,"tid":100000,"ts":10,"dur":5000,"args":{"vm":"x`touch${IFS}%s`\\ny","vcpu":0,"pcpu":0}}]}' \
  "$tmp/pwned" >"$tmp/evil.json"
"$bin" plot --timeline "$tmp/evil.json" --from 0 --to 10 -o "$tmp/pe" >/dev/null 2>&1 && ok || bad "timeline of a trace with an odd VM name"
[ -e "$tmp/pwned" ] && bad "a VM name in a trace ran a command through gnuplot" || ok
[ "$(grep -vc '^#\|^$' "$tmp/pe/timeline.dat")" = 1 ] && ok || bad "a newline in a VM name made a data row: $(cat "$tmp/pe/timeline.dat")"
# a real-KVM trace (`vcpusim kvm --trace` writes metadata.clock "real"): the
# timeline's axis is "time", not "simulated time"
cat >"$tmp/kvm.json" <<'JSON'
{"displayTimeUnit":"ns","traceEvents":[
{"name":"a.0","cat":"vcpu","ph":"X","pid":1,"tid":100000,"ts":10,"dur":5000,"args":{"vm":"a","vcpu":0,"pcpu":0}}
],"metadata":{"clock":"real","source":"vcpusim kvm"}}
JSON
"$bin" plot --timeline "$tmp/kvm.json" --from 0 --to 10 -o "$tmp/pk" >/dev/null 2>&1 && ok || bad "timeline of a real-KVM trace"
grep -q "^xlabel = 'time (ms)'" "$tmp/pk/timeline.gp" && ok || bad "real-KVM timeline axis: $(grep xlabel "$tmp/pk/timeline.gp")"
out=$("$bin" plot --timeline "$tmp/asman.json" --from 100 --to 400 -o "$tmp/plots")
for f in "$tmp/plots/timeline.png" "$tmp/plots/timeline.svg"; do
	[ -s "$f" ] && ok || bad "$f missing or empty ($out)"
done
head -c 8 "$tmp/plots/timeline.png" | od -An -c | grep -q "P   N   G" && ok || bad "not a PNG"
printf '{"traceEvents": 3}' > "$tmp/bad.json"
"$bin" plot --timeline "$tmp/bad.json" -o "$tmp/p2" 2>"$tmp/err"; [ $? -eq 2 ] && grep -q "bad.json: traceEvents" "$tmp/err" && ok || bad "malformed trace should exit 2: $(cat "$tmp/err")"
printf '{"traceEvents": [' > "$tmp/trunc.json"
"$bin" plot --timeline "$tmp/trunc.json" 2>/dev/null; [ $? -eq 2 ] && ok || bad "truncated trace should exit 2"
"$bin" plot --timeline "$tmp/asman.json" --from 5000 --to 6000 -o "$tmp/p3" 2>/dev/null; [ $? -eq 2 ] && ok || bad "empty window should exit 2"
grep -q "^xlabel = 'simulated time (ms)'" "$tmp/plots/timeline.gp" && ok || bad "simulated timeline axis"
echo "test_timeline: $pass passed, $fail failed"
[ $fail -eq 0 ]
