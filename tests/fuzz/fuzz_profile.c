/* fuzz_profile.c: fuzz target for the host profile reader (models/host.c,
 * docs/host-profile.md): a profile is a file a user names (`vcpusim calibrate`
 * writes them, but any file can be named), so it is untrusted input like a
 * scenario. Input: profile JSON text, read as files are (jp_parse_text). A profile
 * that is refused must say why; one that is accepted drives a short kvm run (its
 * host activity, timer lateness and vCPU switch distributions) and a short credit
 * run on 2 pCPUs, under invariant checks, with the no-progress bound lowered and a
 * work budget (sim/stall.h), as fuzz_scenario does. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "models/host.h"
#include "sim/scenario.h"
#include "sim/sim.h"
#include "sim/stall.h"

#define FUZZ_EVENTS 200000

static const char *const scen[] = {
	"{\"host\":{\"pcpus\":2},\"scheduler\":{\"policy\":\"kvm\",\"ple\":false},\"stop\":{\"max_ms\":5},"
	"\"vms\":[{\"name\":\"a\",\"vcpus\":2,\"affinity\":[[0],[1]],\"workload\":{\"kind\":\"bsp\","
	"\"iterations\":50,\"grain_us\":100,\"locks_per_phase\":4,\"cs_ns\":2000}},"
	"{\"name\":\"b\",\"vcpus\":2,\"affinity\":[[0],[1]],\"workload\":{\"kind\":\"cpu_bound\"}}]}",
	"{\"host\":{\"pcpus\":2},\"scheduler\":{\"policy\":\"credit\"},\"stop\":{\"max_ms\":5},"
	"\"vms\":[{\"name\":\"a\",\"vcpus\":2,\"workload\":{\"kind\":\"bsp\",\"iterations\":50,"
	"\"grain_us\":100}},{\"name\":\"b\",\"vcpus\":1,\"workload\":{\"kind\":\"io\"}}]}",
};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct jp jp;
	jp_init(&jp, "fuzz-profile.json");
	stall_base_events = 20000;
	stall_event_budget = FUZZ_EVENTS;
	cJSON *root = jp_parse_text(&jp, (const char *)data, size, "");
	struct host_profile *p = root ? host_profile_from_json(&jp, root, "fuzz-profile.json") : NULL;
	cJSON_Delete(root);
	if (!p) {
		if (!jp.failed)
			abort();   /* refused without a message */
		return 0;
	}
	for (size_t i = 0; i < sizeof scen / sizeof *scen; i++) {
		struct jp sj;
		jp_init(&sj, "fuzz.json");
		cJSON *doc = cJSON_Parse(scen[i]);
		struct scenario *sc = scenario_from_json(&sj, doc);
		cJSON_Delete(doc);
		if (!sc)
			abort();   /* the fixed scenarios are valid */
		/* the run draws from the fuzzed profile; values the scenario took from
		 * the reference at load (spin cost, ipi) stay */
		host_profile_free(sc->profile);
		sc->profile = p;
		sc->check = 1;
		struct sim *s = sim_create(sc);
		if (sim_run(s) != 0 && sim_invariant_broken)
			abort();   /* an invariant broke: a real bug (else: no progress) */
		sim_destroy(s);
		sc->profile = NULL;
		scenario_free(sc);
	}
	host_profile_free(p);
	return 0;
}
