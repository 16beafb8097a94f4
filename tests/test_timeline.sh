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
        if e.get("ph") == "X" and e["pid"] == 0:
            by.setdefault(e["tid"], []).append((e["ts"], e["ts"] + e["dur"]))
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
echo "test_timeline: $pass passed, $fail failed"
[ $fail -eq 0 ]
