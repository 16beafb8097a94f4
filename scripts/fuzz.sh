#!/usr/bin/env bash
# fuzz.sh: `make fuzz`: builds every tests/fuzz/fuzz_*.c with clang's libFuzzer,
# ASan and UBSan, and fuzzes each for FUZZ_SECONDS (default 60). New interesting
# inputs are added to tests/fuzz/corpus/NAME; a crash is saved to
# tests/fuzz/crashes/NAME/ (commit it: the test suite replays it forever after).
set -eu
cd "$(dirname "$0")/.."
VCPUSIM_EXTRA_PKGS="clang libclang-rt-14-dev" scripts/deps.sh
secs=${FUZZ_SECONDS:-60}
CC=clang cmake -S . -B build-fuzz -DCMAKE_BUILD_TYPE=RelWithDebInfo -DVCPUSIM_LIBFUZZER=ON >/dev/null
cmake --build build-fuzz -j "$(nproc)" >/dev/null
status=0
for src in tests/fuzz/fuzz_*.c; do
	name=$(basename "$src" .c)
	mkdir -p "tests/fuzz/corpus/$name" "tests/fuzz/crashes/$name"
	echo "fuzz: $name for ${secs}s"
	if ! build-fuzz/tests/"$name" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 \
		-artifact_prefix="tests/fuzz/crashes/$name/" "tests/fuzz/corpus/$name" 2>"build-fuzz/$name.log"; then
		echo "fuzz: $name found a failure, see build-fuzz/$name.log and tests/fuzz/crashes/$name/"
		status=1
	fi
	tail -n 2 "build-fuzz/$name.log"
done
exit $status
