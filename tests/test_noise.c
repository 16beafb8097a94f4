/* test_noise.c: host.noise adds one pinned single-vCPU VM per pCPU running the io
 * workload (the host's own activity): they run only on their pCPU, take about
 * service / (think + service) of it, and the run stays deterministic and checked. */
#include <math.h>
#include "testlib.h"

int main(void)
{
	const char *json =
		"{\"name\":\"noise\",\"seed\":4,\"stop\":{\"max_ms\":4000},"
		"\"host\":{\"pcpus\":4,\"noise\":{\"think_us\":2000,\"service_us\":500}},"
		"\"vms\":[{\"name\":\"hog\",\"vcpus\":8,\"workload\":{\"kind\":\"cpu_bound\"}}]}";
	struct scenario *sc = t_scenario(json);
	EXPECT(sc->nvms == 5, "1 VM + 4 noise VMs, got %d", sc->nvms);
	struct sim *s = t_run(sc);
	for (int p = 0; p < 4; p++) {
		char name[32];
		snprintf(name, sizeof name, "host-noise-%d", p);
		struct vm *n = t_vm(s, name);
		EXPECT(n->nvcpus == 1 && n->vcpus[0].processor == p,
		       "%s is pinned to pCPU %d (last ran on %d)", name, p, n->vcpus[0].processor);
		EXPECT(n->vcpus[0].st.migrations == 0, "%s never migrates", name);
		double share = t_cpu_ms(n) / simtime_ms(s->end);
		printf("%s: %.1f%% of its pCPU (expected about %.1f%%), %llu bursts\n", name,
		       100 * share, 100 * 500.0 / 2500.0, (unsigned long long)n->st.requests);
		EXPECT(fabs(share - 0.2) < 0.03, "%s share %.3f", name, share);
	}
	t_done(s, sc);
	struct jp jp;
	jp_init(&jp, "(test)");
	cJSON *doc = cJSON_Parse("{\"host\":{\"noise\":{\"think\":1}},\"vms\":[{\"workload\":{\"kind\":\"cpu_bound\"}}]}");
	struct scenario *bad = scenario_from_json(&jp, doc);
	cJSON_Delete(doc);
	EXPECT(!bad && strstr(jp.msg, "host.noise.think: unknown key"), "bad key named: %s", jp.msg);
	return t_finish("test_noise");
}
