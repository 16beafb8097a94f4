#!/usr/bin/env bash
# test_demo.sh: `make demo`'s comparison (scripts/demo.sh) runs every policy that
# `vcpusim list policies` lists (its entries, not their wrapped citation lines: a
# wrapped line once made the demo stop at "unknown policy"), prints one row each,
# writes the wait histogram, and the README quotes the credit row's completion.
# usage: bash test_demo.sh VCPUSIM SOURCE_DIR
set -u
bin=$1
src=$2
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail=0
bad() { echo "FAIL: $*" >&2; fail=1; }
bash "$src/scripts/demo.sh" "$bin" "$tmp" > "$tmp/table.txt" 2> "$tmp/err.txt" || bad "demo.sh failed: $(cat "$tmp/err.txt")"
cat "$tmp/table.txt"
n=0
for p in $("$bin" list policies | awk '/^[a-z]/ {print $1}'); do
	n=$((n + 1))
	grep -q "^$p " "$tmp/table.txt" || bad "no row for policy $p"
done
[ "$n" -ge 10 ] || bad "only $n policies listed"
if command -v gnuplot >/dev/null; then
	[ -s "$tmp/wait_histogram.png" ] || bad "no wait histogram"
fi
credit=$(awk '$1 == "credit" { print $3 }' "$tmp/table.txt")
grep -q "($credit ms)" "$src/README.md" || bad "README does not quote the demo's credit completion $credit ms"
[ $fail = 0 ] && echo "test_demo: passed" || exit 1
