#!/usr/bin/env bash
# test_schemas.sh: the JSON Schemas in schemas/ (issue 14, item 4) against what the
# project ships and produces, with a real validator: Debian's python3-jsonschema
# (installed here as a user would, through scripts/deps.sh, if it is missing).
# Every shipped scenario and sweep file is valid; results written by `vcpusim run`
# (with --set, a policy with its own fields, and a stopped run) are valid, their
# effective_scenario included; typical mistakes (a misspelt key, a key of another
# policy or workload, a bad enum, a sweep varying the seed, a results file without
# provenance) are invalid.
# Usage: bash test_schemas.sh VCPUSIM SOURCE_DIR
set -u
V=$(realpath "$1"); SRC=$(realpath "$2")
T=$(mktemp -d "${TMPDIR:-/tmp}/vcpusim-test-schemas.XXXXXX")
trap 'rm -rf "$T"' EXIT
fails=0
fail() { echo "FAIL: $*" >&2; fails=$((fails + 1)); }
ok() { echo "ok: $*"; }

# Debian's python3 (a python3 earlier on PATH, e.g. pyenv's, does not see Debian's
# packages).
PY=/usr/bin/python3
if ! "$PY" -c 'import jsonschema' 2>/dev/null; then
	VCPUSIM_EXTRA_PKGS=python3-jsonschema "$SRC/scripts/deps.sh" >/dev/null 2>&1
fi
"$PY" -c 'import jsonschema' 2>/dev/null ||
	{ echo "skip: python3-jsonschema is not installed and could not be installed (no apt access)"; exit 77; }
CHECK() { "$PY" "$SRC/tests/check_schemas.py" "$SRC/schemas" "$@"; }
valid() {  # valid KIND FILE... : each must be valid
	local k=$1; shift
	CHECK "$k" "$@" >"$T/out" 2>&1 || fail "$k: should be valid: $(cat "$T/out")"
}
invalid() {  # invalid KIND FILE PATTERN : must be invalid, with PATTERN in the message
	CHECK "$1" "$2" >"$T/out" 2>&1 && { fail "$1: $2 should be invalid"; return; }
	grep -q -- "$3" "$T/out" || fail "$1: $2: expected '$3' in: $(cat "$T/out")"
}

CHECK --check-schemas || fail "the schemas themselves are not valid Draft 2020-12"

cd "$SRC" || exit 1
scen=() sweeps=()
for f in $(git ls-files '*.json' 2>/dev/null || find scenarios sweeps -name '*.json'); do
	case $f in tests/fuzz/*|schemas/*) continue ;; esac
	if "$PY" -c 'import json,sys; d=json.load(open(sys.argv[1])); sys.exit(0 if isinstance(d, dict) and "base" in d else 1)' "$f"; then
		sweeps+=("$f")
	elif "$PY" -c 'import json,sys; d=json.load(open(sys.argv[1])); sys.exit(0 if isinstance(d, dict) and "vms" in d else 1)' "$f"; then
		scen+=("$f")
	fi
done
[ ${#scen[@]} -ge 30 ] || fail "found only ${#scen[@]} shipped scenarios"
[ ${#sweeps[@]} -ge 5 ] || fail "found only ${#sweeps[@]} shipped sweeps"
valid scenario "${scen[@]}" && ok "${#scen[@]} shipped scenarios are valid"
valid sweep "${sweeps[@]}" && ok "${#sweeps[@]} shipped sweeps are valid"
cd "$T" || exit 1

# Results that vcpusim writes.
"$V" run --quiet -o r1.json --set stop.max_ms=300 2>/dev/null || fail "run r1"
"$V" run --quiet -o r2.json --set scheduler.policy=asman --set 'vms[0].workload={"kind":"npb","kernel":"cg","class":"S"}' --set seed=3 ||
	fail "run r2"
"$V" run --quiet -o r3.json "$SRC/scenarios/examples/io-boost.json" --set stop.max_ms=500 || fail "run r3"
valid results r1.json r2.json r3.json && ok "results written by vcpusim run are valid"

# Mistakes the schemas catch.
cat > typo.json <<'J'
{"vms": [{"name": "a", "vcpu": 2, "workload": {"kind": "cpu_bound"}}]}
J
invalid scenario typo.json "vms\[0\].*'vcpu' was unexpected"
cat > other-policy.json <<'J'
{"scheduler": {"policy": "gang", "timeslice_ms": 10}, "vms": [{"workload": {"kind": "cpu_bound"}}]}
J
invalid scenario other-policy.json "scheduler"
cat > other-kind.json <<'J'
{"vms": [{"workload": {"kind": "io", "iterations": 5}}]}
J
invalid scenario other-kind.json "workload"
cat > bad-enum.json <<'J'
{"guest": {"spinlock": "mcs"}, "vms": [{"workload": {"kind": "cpu_bound"}}]}
J
invalid scenario bad-enum.json "guest.spinlock"
cat > npb-no-kernel.json <<'J'
{"vms": [{"workload": {"kind": "npb"}}]}
J
invalid scenario npb-no-kernel.json "'kernel' is a required property"
cat > host-keys.json <<'J'
{"host": {"pcpus": 2, "profile": "reference", "activity": "off"}, "vms": [{"workload": {"kind": "cpu_bound"}}]}
J
valid scenario host-keys.json
cat > host-activity.json <<'J'
{"host": {"activity": "maybe"}, "vms": [{"workload": {"kind": "cpu_bound"}}]}
J
invalid scenario host-activity.json "host.activity"
cat > sweep-seed.json <<'J'
{"base": "x.json", "vary": {"seed": [1, 2]}}
J
invalid sweep sweep-seed.json "vary"
cat > sweep-inline.json <<'J'
{"base": {"vms": [{"workload": {"kind": "cpu_bound", "grain_us": 5}}]}, "replicates": 2}
J
invalid sweep sweep-inline.json "base"
cat > sweep-both.json <<'J'
{"base": "x.json", "replicates": 2, "seeds": [1, 2]}
J
invalid sweep sweep-both.json "(top)"
"$PY" -c 'import json; d=json.load(open("r1.json")); del d["vcpusim"]; json.dump(d, open("noprov.json", "w"))'
invalid results noprov.json "'vcpusim' is a required property"
"$PY" -c 'import json; d=json.load(open("r1.json")); d["vms"][0]["completion_ms"] = "soon"; json.dump(d, open("badres.json", "w"))'
invalid results badres.json "vms\[0\].completion_ms"
"$PY" -c 'import json; d=json.load(open("r1.json")); d["effective_scenario"]["vms"][0]["vcpus"] = 0; json.dump(d, open("badeff.json", "w"))'
invalid results badeff.json "effective_scenario"
[ $fails = 0 ] && ok "mistakes are caught, host.profile and host.activity accepted"

[ $fails = 0 ] || { echo "$fails failure(s)" >&2; exit 1; }
echo "all schema checks passed"
