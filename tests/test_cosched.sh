#!/usr/bin/env bash
# test_cosched.sh: the coscheduling policies from the command line (issue 3):
# the tradeoff scenarios run with one command each, asman's mode switches appear
# on the --trace timeline, gang/hybrid reject a VM wider than the host (exit 2,
# file and JSON path), the policies are listed. Usage: test_cosched.sh VCPUSIM SRCDIR
set -u
bin=$1 src=$2
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
pass=0 fail=0
ok() { pass=$((pass + 1)); }
bad() { fail=$((fail + 1)); echo "FAIL: $*"; }

for p in gang hybrid asman hybrid-ipi; do
	"$bin" list policies | grep -q "^$p " && ok || bad "list policies lacks $p"
done

# one command each; the summary names the policy
for p in credit gang hybrid asman; do
	out=$("$bin" run "$src/scenarios/tradeoff/$p.json" --quiet 2>&1) && ok || bad "tradeoff/$p.json failed: $out"
	echo "$out" | grep -q "policy $p," && ok || bad "tradeoff/$p.json did not run policy $p"
done

# asman's mode switches on the timeline: instant events, and a span on the VM's track
"$bin" run "$src/scenarios/tradeoff/asman.json" --quiet --trace "$tmp/t.json" -o "$tmp/r.json" || bad "traced run failed"
grep -q '"name":"par cosched on","cat":"mode","ph":"i"' "$tmp/t.json" && ok || bad "no mode-switch instant event in the trace"
grep -q '"name":"coscheduled","cat":"mode","ph":"X","pid":2' "$tmp/t.json" && ok || bad "no coscheduled span in the trace"
grep -q '"process_name","ph":"M","pid":2,"args":{"name":"VMs"}' "$tmp/t.json" && ok || bad "no VMs track in the trace"
if command -v python3 >/dev/null; then
	python3 - "$tmp/t.json" "$tmp/r.json" <<'PY' && ok || bad "trace is not valid JSON or disagrees with the results"
import json, sys
t = json.load(open(sys.argv[1]))["traceEvents"]
r = json.load(open(sys.argv[2]))
par = [v for v in r["vms"] if v["name"] == "par"][0]
switches = [e for e in t if e.get("cat") == "mode" and e["ph"] == "i" and e["args"]["vm"] == "par"]
spans = sum(e["dur"] for e in t if e.get("cat") == "mode" and e["ph"] == "X" and e["args"]["vm"] == "par")
assert len(switches) == par["mode_switches"], (len(switches), par["mode_switches"])
assert abs(spans / 1000 - par["cosched_ms"]) < 1e-3, (spans, par["cosched_ms"])
PY
fi

# gang: each hold of a multi-vCPU gang is a "gang" span on its track, summing to gang_scheduled_ms
"$bin" run "$src/scenarios/tradeoff/gang.json" --quiet --trace "$tmp/g.json" -o "$tmp/gr.json" || bad "traced gang run failed"
if command -v python3 >/dev/null; then
	python3 - "$tmp/g.json" "$tmp/gr.json" <<'PY' && ok || bad "gang spans disagree with gang_scheduled_ms"
import json, sys
t = json.load(open(sys.argv[1]))["traceEvents"]
r = json.load(open(sys.argv[2]))
for v in r["vms"]:
    if v["vcpus"] > 1:
        held = sum(e["dur"] for e in t if e.get("cat") == "mode" and e["name"] == "gang" and e["args"]["vm"] == v["name"])
        assert abs(held / 1000 - v["gang_scheduled_ms"]) < 1e-3, (v["name"], held, v["gang_scheduled_ms"])
PY
else
	grep -q '"name":"gang","cat":"mode","ph":"X","pid":2' "$tmp/g.json" && ok || bad "no gang span in the trace"
fi

# a VM wider than the host
printf '%s' '{"host":{"pcpus":2},"scheduler":{"policy":"gang"},"vms":[{"name":"a","workload":{"kind":"cpu_bound"}},{"name":"w","vcpus":3,"workload":{"kind":"cpu_bound"}}]}' > "$tmp/w.json"
out=$("$bin" run "$tmp/w.json" 2>&1); rc=$?
[ $rc -eq 2 ] && echo "$out" | grep -qF "w.json: vms[1].vcpus: policy gang" && ok || bad "gang: expected exit 2 naming vms[1].vcpus, got $rc: $out"
out=$("$bin" validate "$tmp/w.json" --set scheduler.policy=hybrid --set 'vms[1].concurrent=true' 2>&1); rc=$?
[ $rc -eq 2 ] && echo "$out" | grep -qF "vms[1].vcpus: policy hybrid" && ok || bad "hybrid: expected exit 2, got $rc: $out"
"$bin" validate "$tmp/w.json" --set scheduler.policy=hybrid && ok || bad "hybrid: an unflagged wide VM is Credit's"
out=$("$bin" validate "$src/scenarios/tradeoff/gang.json" --set 'vms[1].cap=50' 2>&1); rc=$?
[ $rc -eq 2 ] && echo "$out" | grep -qF "gang.json: vms[1].cap: policy gang does not model caps" && ok || bad "gang: a cap is an error, got $rc: $out"
"$bin" validate "$src/scenarios/tradeoff/hybrid.json" --set 'vms[1].cap=50' && ok || bad "hybrid: a Credit VM may have a cap"
out=$("$bin" run "$tmp/w.json" --set scheduler.policy=asman --set scheduler.holds='[1,"two"]' 2>&1); rc=$?
[ $rc -eq 2 ] && echo "$out" | grep -qF "scheduler.holds[1]:" && ok || bad "asman: bad hold: got $rc: $out"

echo "test_cosched: $((pass + fail)) checks, $pass passed, $fail failed"
[ $fail -eq 0 ]
