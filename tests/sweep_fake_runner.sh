#!/usr/bin/env bash
# sweep_fake_runner.sh: stands in for `vcpusim run` / `vcpusim validate` in the
# sweep and plot tests (VCPUSIM_SWEEP_RUNNER hook of sweep/), so they test the
# sweep machinery alone, fast, with results that depend only on the scenario file.
#   PROG validate SCEN        exit 2 if scheduler.policy starts with "bogus"
#   PROG run SCEN -o OUT      writes a results JSON in the interface.md shape
# Knobs (environment): FAKE_SLEEP=seconds per run; FAKE_CRASH=POLICY dies by
# SIGSEGV for that policy; FAKE_HANG=POLICY sleeps forever; FAKE_LOG=file gets a
# line per run (to count which runs executed); FAKE_SLOW_VALIDATE=POLICY makes
# validate take 1 s for that policy (to make workers finish out of order).
set -u
cmd=${1:-}; scen=${2:-}
get() { # first value of "key": in the scenario (strings unquoted)
	grep -o "\"$1\":[[:space:]]*[^,}]*" "$scen" | head -n1 | sed 's/^[^:]*:[[:space:]]*//; s/"//g; s/[[:space:]]*$//'
}
policy=$(get policy)
if [ "$cmd" = validate ]; then
	[ -n "${FAKE_SLOW_VALIDATE:-}" ] && [ "$FAKE_SLOW_VALIDATE" = "$policy" ] && sleep 1
	if [ "${policy#bogus}" != "$policy" ]; then
		echo "$scen: scheduler.policy: expected one of \"credit\", \"gang\", got \"$policy\"" >&2
		exit 2
	fi
	exit 0
fi
[ "$cmd" = run ] && [ "${3:-}" = -o ] && [ -n "${4:-}" ] || { echo "fake runner: bad arguments: $*" >&2; exit 2; }
out=$4
[ -n "${FAKE_LOG:-}" ] && echo "$scen" >> "$FAKE_LOG"
[ -n "${FAKE_SLEEP:-}" ] && sleep "$FAKE_SLEEP"
[ -n "${FAKE_CRASH:-}" ] && [ "$FAKE_CRASH" = "$policy" ] && { echo "fake runner: crashing" >&2; kill -SEGV $$; }
[ -n "${FAKE_HANG:-}" ] && [ "$FAKE_HANG" = "$policy" ] && { sleep 1000 & wait; }
sum=$(cksum < "$scen" | cut -d' ' -f1)
seed=$(get seed); pcpus=$(get pcpus); vcpus=$(get vcpus)
awk -v sum="$sum" -v seed="$seed" -v policy="$policy" -v pcpus="${pcpus:-4}" -v vcpus="${vcpus:-4}" 'BEGIN {
	f = (policy == "gang") ? 0.8 : (policy == "asman") ? 0.7 : 1.0
	noise = (sum % 1000) / 10000.0
	comp = 1000 * f * vcpus / pcpus * (1 + noise)
	spin = 50 * f * (1 + (sum % 37) / 100.0)
	printf "{\"scenario\": \"fake\", \"policy\": \"%s\", \"seed\": %d, \"sim_ms\": %.3f, \"events\": %d, \"wall_s\": 0.01,\n", policy, seed, comp, sum % 100000
	printf " \"host\": {\"pcpus\": %d, \"utilization\": %.4f, \"idle_with_runnable_ms\": %.2f, \"context_switches\": %d, \"migrations\": %d},\n", pcpus, 0.9 + noise / 2, (sum % 50) / 10.0, sum % 5000, sum % 97
	printf " \"vms\": [\n"
	printf "  {\"name\": \"par\", \"vcpus\": %d, \"finished\": true, \"completion_ms\": %.3f, \"cpu_ms\": %.3f, \"work_ms\": %.3f, \"spin_ms\": %.3f,\n", vcpus, comp, comp * 2, comp * 2 - spin, spin
	printf "   \"spin\": {\"acquisitions\": 1000, \"long_waits\": %d, \"max_wait_cycles\": 1000000, \"histogram_log2_cycles\": [", int(10 * f + sum % 7)
	for (i = 0; i < 24; i++) printf "%s%d", (i ? ", " : ""), int(1000 * exp(-((i - 8 * f - 2) ^ 2) / 8) + (sum + i) % 3)
	printf "]},\n   \"cosched_ms\": %.3f, \"preemptions\": %d},\n", (policy == "gang" ? comp / 2 : 0), sum % 300
	printf "  {\"name\": \"hog-0\", \"vcpus\": 4, \"finished\": false, \"completion_ms\": null, \"cpu_ms\": %.3f, \"work_ms\": %.3f, \"spin_ms\": 0,\n", comp, comp
	printf "   \"spin\": {\"acquisitions\": 0, \"long_waits\": 0, \"max_wait_cycles\": 0, \"histogram_log2_cycles\": []}, \"preemptions\": 3}\n"
	printf " ]}\n"
}' > "$out"
