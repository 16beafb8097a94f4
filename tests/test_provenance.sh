#!/usr/bin/env bash
# test_provenance.sh: a results file says what made it (issue 14, item 3).
# `--version` prints the version and the source commit; every results JSON carries
# vcpusim {version, commit} and effective_scenario (the scenario with every --set
# applied), and running that effective scenario again reproduces the results
# (wall_s aside); the version is the same in CMakeLists.txt, CITATION.cff and
# CHANGELOG.md; LICENSE is the GPL, version 3.
# Usage: bash test_provenance.sh VCPUSIM SOURCE_DIR
set -u
V=$(realpath "$1"); SRC=$(realpath "$2")
T=$(mktemp -d "${TMPDIR:-/tmp}/vcpusim-test-provenance.XXXXXX")
trap 'rm -rf "$T"' EXIT
fails=0
fail() { echo "FAIL: $*" >&2; fails=$((fails + 1)); }
ok() { echo "ok: $*"; }
cd "$T" || exit 1

ver=$(sed -n 's/^project(vcpusim VERSION \([0-9][0-9.]*\).*/\1/p' "$SRC/CMakeLists.txt")
[ -n "$ver" ] || fail "no project version in CMakeLists.txt"
out=$("$V" --version)
echo "$out" | grep -q -E "^vcpusim $ver \(commit ([0-9a-f]{40}(-dirty)?|unknown)\)$" ||
	fail "--version: '$out' (expected 'vcpusim $ver (commit HASH)')"
commit=$(echo "$out" | sed -n 's/.*(commit \(.*\))$/\1/p')
if git -C "$SRC" rev-parse HEAD >/dev/null 2>&1; then
	head=$(git -C "$SRC" rev-parse HEAD)
	case $commit in
	"$head"|"$head-dirty") ok "--version names the checkout's commit ($commit)" ;;
	*) fail "--version commit '$commit' is not HEAD ($head)" ;;
	esac
fi

# Results: provenance, and the effective scenario after --set.
"$V" run "$SRC/scenarios/examples/lock-convoy.json" --quiet -o r.json \
	--set seed=7 --set scheduler.policy=gang --set stop.max_ms=400 || fail "run"
python3 - "$ver" "$commit" "$SRC/scenarios/examples/lock-convoy.json" <<'PY' || fail "results provenance"
import json, sys
ver, commit, scen_file = sys.argv[1:]
r = json.load(open("r.json"))
scen = json.load(open(scen_file))
bad = []
if r.get("vcpusim") != {"version": ver, "commit": commit}:
    bad.append(f"vcpusim: {r.get('vcpusim')}")
e = r.get("effective_scenario")
if not isinstance(e, dict):
    bad.append("no effective_scenario")
else:
    if e.get("seed") != 7 or e["scheduler"].get("policy") != "gang" or e["stop"].get("max_ms") != 400:
        bad.append(f"--set not applied: seed {e.get('seed')}, scheduler {e.get('scheduler')}, stop {e.get('stop')}")
    if e.get("vms") != scen["vms"] or e.get("name") != scen["name"]:
        bad.append("the rest of the scenario differs from the file")
    json.dump(e, open("effective.json", "w"), indent=1)
if r.get("seed") != 7 or r.get("policy") != "gang":
    bad.append("the run did not use the --set values")
for b in bad:
    print("FAIL:", b, file=sys.stderr)
sys.exit(1 if bad else 0)
PY
[ $fails = 0 ] && ok "results carry version, commit and the effective scenario"

# The effective scenario reruns the same simulation: same results, wall_s aside.
"$V" run effective.json --quiet -o r2.json || fail "rerun of the effective scenario"
grep -v '"wall_s"' r.json > a; grep -v '"wall_s"' r2.json > b
cmp -s a b && ok "rerunning effective_scenario gives byte-identical results (wall_s aside)" ||
	fail "rerun of effective_scenario differs: $(diff a b | head -5)"

# The built-in scenario is recorded too.
"$V" run --quiet -o b.json --set stop.max_ms=100 || fail "builtin run"
python3 -c 'import json; e = json.load(open("b.json"))["effective_scenario"]; assert e["name"] == "builtin-lock-holder-preemption" and e["stop"]["max_ms"] == 100, e' ||
	fail "the built-in scenario's effective_scenario"

# Release files agree with the version.
grep -q "^version: \"$ver\"$" "$SRC/CITATION.cff" || fail "CITATION.cff version is not $ver"
grep -q '^license: GPL-3.0-or-later$' "$SRC/CITATION.cff" || fail "CITATION.cff licence"
grep -q "^## \[$ver\] - [0-9]\{4\}-[0-9][0-9]-[0-9][0-9]$" "$SRC/CHANGELOG.md" || fail "CHANGELOG.md has no heading for $ver"
grep -q '^## How releases are made' "$SRC/CHANGELOG.md" || fail "CHANGELOG.md does not say how releases are tagged"
head -2 "$SRC/LICENSE" | grep -q 'GNU GENERAL PUBLIC LICENSE' && grep -q 'Version 3, 29 June 2007' "$SRC/LICENSE" ||
	fail "LICENSE is not the GPL, version 3"
[ $fails = 0 ] && ok "CMakeLists.txt, CITATION.cff and CHANGELOG.md agree on $ver; LICENSE is GPL-3"

[ $fails = 0 ] || { echo "$fails failure(s)" >&2; exit 1; }
echo "all provenance checks passed"
