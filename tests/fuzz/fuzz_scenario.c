/* fuzz_scenario.c: fuzz target for the scenario reader and --set paths.
 * Input: scenario JSON text, optionally followed by a NUL byte and --set
 * assignments, one per line. Valid scenarios are also built and simulated for a
 * few simulated milliseconds on a bounded machine, under invariant checks, with
 * the no-progress bound lowered (sim/stall.h): a run that stops advancing time
 * must stop with its message, never hang or loop (issue 13, item 6). The JSON is
 * read as files are (jp_parse_text: duplicate keys, \u0000). Each run also has a
 * work budget of FUZZ_EVENTS events (sim/stall.h, stall_event_budget): 5 ms of a
 * busy valid scenario can be a million events, several seconds each under the
 * fuzzer's instrumentation (tests/fuzz/corpus/fuzz_scenario/timeout-ticket-convoy-47);
 * the budget keeps every input fast, so fuzzing explores instead of timing out. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "sim/scenario.h"
#include "sim/sim.h"
#include "sim/stall.h"

#define FUZZ_EVENTS 200000

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *text = malloc(size + 1);
	memcpy(text, data, size);
	text[size] = 0;
	size_t json_len = strlen(text);
	char *sets[16];
	int nsets = 0;
	if (json_len < size) {
		char *p = text + json_len + 1, *end = text + size;
		while (p < end && nsets < 16) {
			char *nl = memchr(p, '\n', (size_t)(end - p));
			if (nl)
				*nl = 0;
			if (*p)
				sets[nsets++] = p;
			if (!nl)
				break;
			p = nl + 1;
		}
	}
	struct jp jp;
	jp_init(&jp, "fuzz.json");
	stall_base_events = 20000;
	stall_event_budget = FUZZ_EVENTS;
	cJSON *root = jp_parse_text(&jp, text, json_len, "");
	struct scenario *sc = NULL;
	if (root) {
		int ok = 1;
		for (int i = 0; i < nsets && ok; i++)
			ok = jp_set_path(&jp, root, sets[i]) == 0;
		if (ok)
			sc = scenario_from_json(&jp, root);
		cJSON_Delete(root);
	}
	if (sc) {
		int vcpus = 0;
		for (int i = 0; i < sc->nvms; i++)
			vcpus += sc->vms[i].vcpus;
		if (sc->npcpus <= 64 && vcpus <= 128) {
			sc->max_ns = sc->max_ns < 5 * NS_PER_MS ? sc->max_ns : 5 * NS_PER_MS;
			sc->check = 1;
			struct sim *s = sim_create(sc);
			if (sim_run(s) != 0 && sim_invariant_broken)
				abort();   /* an invariant broke: a real bug (else: no progress) */
			sim_destroy(s);
		}
		scenario_free(sc);
	} else if (!jp.failed) {
		abort();   /* rejected without a message */
	}
	free(text);
	return 0;
}
