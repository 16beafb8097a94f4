#!/usr/bin/env bash
# test_self_contained.sh: the repository is its own reference (issue 14, item 5).
# No tracked file may point at the team's private briefing folder (the word
# "shared" followed by a slash), which a user's clone does not have; and every
# docs page (docs/PAGE dot md) that a tracked file names must exist, so that the
# pointers that replaced it lead somewhere.
# Usage: bash test_self_contained.sh VCPUSIM SOURCE_DIR
set -u
SRC=$(realpath "$2")
command -v git >/dev/null || { echo "skip: git is not installed"; exit 77; }
git -C "$SRC" rev-parse --is-inside-work-tree >/dev/null 2>&1 ||
	{ echo "skip: $SRC is not a git checkout (no list of tracked files)"; exit 77; }
cd "$SRC" || exit 1
fails=0
fail() { echo "FAIL: $*" >&2; fails=$((fails + 1)); }

# Text files only (-I): fuzz corpora are binary and may hold any bytes.
# The pattern is written with a bracket so that this file does not match itself.
hits=$(git ls-files -z | xargs -0 grep -I -n -E 'shared[/]' -- 2>/dev/null)
if [ -n "$hits" ]; then
	fail "tracked files name the private briefing folder (cite docs/ or primary sources):"
	echo "$hits" >&2
else
	echo "ok: no tracked file names it ($(git ls-files | wc -l) files)"
fi

# Every docs page named anywhere exists.
missing=0
for d in $(git ls-files -z | xargs -0 grep -I -o -h -E 'docs/[A-Za-z0-9_-]+\.md' -- 2>/dev/null | sort -u); do
	[ -f "$d" ] || { fail "$d is named but does not exist: $(git grep -l -F "$d" | tr '\n' ' ')"; missing=1; }
done
[ $missing = 0 ] && echo "ok: every docs/*.md named in the tree exists"

# Relative links between docs resolve too ([text](file.md) inside docs/).
for f in docs/*.md; do
	for l in $(grep -o -E '\]\([A-Za-z0-9_./-]+\.md\)' "$f" | sed -E 's/^\]\((.*)\)$/\1/' | sort -u); do
		[ -f "docs/$l" ] || fail "$f links to $l, which does not exist"
	done
done
echo "ok: links between docs checked"

[ $fails = 0 ] || { echo "$fails failure(s)" >&2; exit 1; }
echo "all self-containment checks passed"
