/* test_gang.c: the strict coscheduling policies gang and hybrid (issue 3).
 *  - the gang invariant (each multi-vCPU gang has all or none of its runnable
 *    vCPUs dispatched) and the plan's consistency hold at every event of
 *    randomized scenarios: several seeds, VM mixes, vCPU counts, hosts
 *    (gang_check and credit_check run after every event: scenario check = true);
 *  - a VM wider than the host is a scenario error naming its JSON path;
 *  - shares between gangs follow weights; 1-vCPU VMs share the host with a gang;
 *  - a gang's blocked members keep their pCPUs idle (fragmentation);
 *  - hybrid with no VM flagged is Credit exactly; with the flag, the flagged VM
 *    behaves as under gang and the rest as under Credit. */
#include <math.h>
#include "testlib.h"

/* A small deterministic generator for the test's own choices (not the model's). */
static uint64_t lcg = 88172645463325252ull;
static int pick(int lo, int hi)
{
	lcg ^= lcg << 13;
	lcg ^= lcg >> 7;
	lcg ^= lcg << 17;
	return lo + (int)(lcg % (uint64_t)(hi - lo + 1));
}

/* asman and hybrid-ipi ride along: their own invariants (cosched_check,
 * credit_check) are checked on the same mixes */
static const char *policies[] = { "gang", "hybrid", "asman", "hybrid-ipi" };

static void randomized(void)
{
	int runs = 0;
	for (int seed = 1; seed <= 12; seed++) {
		char json[4096];
		int n = pick(2, 8), nvms = pick(2, 6), len;
		len = snprintf(json, sizeof json,
			       "{\"name\":\"gang-random-%d\",\"seed\":%d,\"stop\":{\"max_ms\":400},"
			       "\"scheduler\":{\"policy\":\"POLICY\"},"
			       "\"host\":{\"pcpus\":%d},\"start_spread_ms\":%d,\"vms\":[",
			       seed, seed, n, pick(0, 1) ? 30 : 0);
		for (int i = 0; i < nvms; i++) {
			int vc = pick(1, n), kind = pick(0, 3);
			const char *w;
			char wb[256];
			switch (kind) {
			case 0:
				w = "{\"kind\":\"cpu_bound\"}";
				break;
			case 1:
				snprintf(wb, sizeof wb, "{\"kind\":\"io\",\"think_us\":%d,\"service_us\":%d}",
					 pick(100, 5000), pick(50, 2000));
				w = wb;
				break;
			default:
				snprintf(wb, sizeof wb,
					 "{\"kind\":\"bsp\",\"iterations\":%d,\"grain_us\":%d,\"locks_per_phase\":%d,"
					 "\"barrier\":%s,\"imbalance\":0.%d}",
					 pick(20, 200), pick(100, 3000), pick(0, 8), pick(0, 3) ? "true" : "false",
					 pick(0, 5));
				w = wb;
			}
			len += snprintf(json + len, sizeof json - (size_t)len,
					"%s{\"name\":\"vm%d\",\"vcpus\":%d,\"weight\":%d,\"concurrent\":%s,\"workload\":%s}",
					i ? "," : "", i, vc, pick(1, 4) * 128, pick(0, 1) ? "true" : "false", w);
		}
		snprintf(json + len, sizeof json - (size_t)len, "]}");
		for (int p = 0; p < 4; p++) {
			char buf[4200];
			const char *at = strstr(json, "POLICY");
			snprintf(buf, sizeof buf, "%.*s%s%s", (int)(at - json), json, policies[p], at + 6);
			struct scenario *sc = t_scenario(buf);
			struct sim *s = t_run(sc);
			runs++;
			EXPECT(s->events > 100, "%s seed %d: the run did something (%llu events)", policies[p],
			       seed, (unsigned long long)s->events);
			t_done(s, sc);
		}
	}
	printf("randomized: %d runs of gang, hybrid, asman and hybrid-ipi with invariants checked after every event\n", runs);
}

static void too_wide(void)
{
	const char *json =
		"{\"host\":{\"pcpus\":4},\"scheduler\":{\"policy\":\"%s\"},\"vms\":["
		"{\"name\":\"a\",\"vcpus\":2,\"workload\":{\"kind\":\"cpu_bound\"}},"
		"{\"name\":\"b\",\"count\":2,\"vcpus\":1,\"workload\":{\"kind\":\"cpu_bound\"}},"
		"{\"name\":\"w\",\"vcpus\":5,\"concurrent\":%s,\"workload\":{\"kind\":\"cpu_bound\"}}]}";
	const char *pol[] = { "gang", "hybrid", "hybrid", "credit" };
	const char *flag[] = { "false", "true", "false", "true" };
	for (int k = 0; k < 4; k++) {
		char buf[1024];
		snprintf(buf, sizeof buf, json, pol[k], flag[k]);
		struct jp jp;
		jp_init(&jp, "wide.json");
		cJSON *doc = cJSON_Parse(buf);
		struct scenario *sc = scenario_from_json(&jp, doc);
		cJSON_Delete(doc);
		int must_fail = k < 2;
		if (must_fail) {
			EXPECT(!sc && strstr(jp.msg, "wide.json: vms[2].vcpus:"),
			       "%s (concurrent %s): a 5-vCPU VM on 4 pCPUs is rejected at vms[2].vcpus, got: %s",
			       pol[k], flag[k], sc ? "accepted" : jp.msg);
			if (!sc)
				printf("%s rejects a VM wider than the host: %s\n", pol[k], jp.msg);
		} else {
			EXPECT(sc != NULL, "%s (concurrent %s): accepted, got %s", pol[k], flag[k], jp.msg);
		}
		scenario_free(sc);
	}
}

static double cpu_share(struct sim *s, const char *vm)
{
	return t_cpu_ms(t_vm(s, vm)) / simtime_ms(s->end);
}

static void shares(void)
{
	/* two 4-vCPU gangs, weights 1:2 */
	struct scenario *sc = t_scenario(
		"{\"name\":\"gang-weights\",\"stop\":{\"max_ms\":6000},\"host\":{\"activity\":\"off\",\"pcpus\":4},"
		"\"scheduler\":{\"policy\":\"gang\"},\"vms\":["
		"{\"name\":\"a\",\"vcpus\":4,\"weight\":256,\"workload\":{\"kind\":\"cpu_bound\"}},"
		"{\"name\":\"b\",\"vcpus\":4,\"weight\":512,\"workload\":{\"kind\":\"cpu_bound\"}}]}");
	struct sim *s = t_run(sc);
	double a = cpu_share(s, "a"), b = cpu_share(s, "b");
	printf("gang, two 4-vCPU gangs weights 256:512 on 4 pCPUs: %.3f and %.3f pCPUs (b/a %.3f)\n", a, b, b / a);
	EXPECT(fabs(b / a - 2) < 0.1, "b/a = %.3f, expected 2 within 5%%", b / a);
	/* idle only while the vCPUs come online (start_spread_ms) */
	EXPECT(fabs(a + b - 4) < 0.02, "the host stays busy: %.3f pCPUs", a + b);
	t_done(s, sc);

	/* a 4-vCPU gang and four 1-vCPU VMs, equal weights: 4/5 of a pCPU each */
	sc = t_scenario(
		"{\"name\":\"gang-fill\",\"stop\":{\"max_ms\":6000},\"host\":{\"activity\":\"off\",\"pcpus\":4},"
		"\"scheduler\":{\"policy\":\"gang\"},\"vms\":["
		"{\"name\":\"g\",\"vcpus\":4,\"workload\":{\"kind\":\"cpu_bound\"}},"
		"{\"name\":\"s\",\"count\":4,\"workload\":{\"kind\":\"cpu_bound\"}}]}");
	s = t_run(sc);
	double g = cpu_share(s, "g");
	printf("gang, a 4-vCPU gang and four 1-vCPU VMs on 4 pCPUs: gang %.3f pCPUs, singles", g);
	EXPECT(fabs(g - 0.8) < 0.04, "gang share %.3f, expected 0.8 within 5%%", g);
	for (int i = 0; i < 4; i++) {
		char n[8];
		snprintf(n, sizeof n, "s-%d", i);
		double x = cpu_share(s, n);
		printf(" %.3f", x);
		EXPECT(fabs(x - 0.8) < 0.04, "%s share %.3f, expected 0.8 within 5%%", n, x);
	}
	printf("\n");
	t_done(s, sc);
}

static void fragmentation(void)
{
	/* a barrier-heavy gang whose threads block at barriers beside a CPU hog gang:
	 * the blocked members' pCPUs stay idle while the hog waits */
	const char *json =
		"{\"name\":\"frag\",\"stop\":{\"max_ms\":3000},\"host\":{\"activity\":\"off\",\"pcpus\":4},"
		"\"scheduler\":{\"policy\":\"%s\"},\"guest\":{\"spin_iteration_cycles\":10},\"vms\":["
		"{\"name\":\"par\",\"vcpus\":4,\"workload\":{\"kind\":\"bsp\",\"iterations\":1000,"
		"\"grain_us\":2000,\"imbalance\":0.5}},"
		"{\"name\":\"hog\",\"vcpus\":4,\"workload\":{\"kind\":\"cpu_bound\"}}]}";
	double iwr[2];
	const char *pol[] = { "gang", "credit" };
	for (int k = 0; k < 2; k++) {
		char buf[1024];
		snprintf(buf, sizeof buf, json, pol[k]);
		struct scenario *sc = t_scenario(buf);
		struct sim *s = t_run(sc);
		iwr[k] = simtime_ms(s->idle_with_runnable_ns) / simtime_ms(s->end);
		t_done(s, sc);
	}
	printf("idle pCPU time while vCPUs wait, per ms: gang %.3f, credit %.3f\n", iwr[0], iwr[1]);
	EXPECT(iwr[0] > 0.02 && iwr[1] < 0.002, "gang fragments (%.3f), credit does not (%.3f)", iwr[0], iwr[1]);
}

static cJSON *run_json(const char *json, const char *policy, int concurrent)
{
	char buf[2048];
	snprintf(buf, sizeof buf, json, policy, concurrent ? "true" : "false");
	struct scenario *sc = t_scenario(buf);
	struct sim *s = t_run(sc);
	cJSON *r = results_build(s, 0);
	t_done(s, sc);
	return r;
}

static double rate(const cJSON *r, const char *vm)
{
	return num(vm_of(r, vm), "work_ms") / num(r, "sim_ms");
}

static void hybrid_matches(void)
{
	/* a lock-heavy 4-vCPU VM among non-concurrent VMs on 8 pCPUs */
	const char *json =
		"{\"name\":\"hybrid\",\"seed\":1,\"stop\":{\"max_ms\":20000},\"host\":{\"activity\":\"off\",\"pcpus\":8},"
		"\"scheduler\":{\"policy\":\"%s\"},\"vms\":["
		"{\"name\":\"par\",\"vcpus\":4,\"concurrent\":%s,\"workload\":{\"kind\":\"bsp\","
		"\"iterations\":1000,\"grain_us\":500,\"barrier\":false,\"locks_per_phase\":10,\"cs_ns\":1000}},"
		"{\"name\":\"hog\",\"vcpus\":4,\"workload\":{\"kind\":\"cpu_bound\"}},"
		"{\"name\":\"w2\",\"count\":2,\"vcpus\":2,\"workload\":{\"kind\":\"cpu_bound\"}},"
		"{\"name\":\"s\",\"count\":2,\"vcpus\":1,\"workload\":{\"kind\":\"cpu_bound\"}},"
		"{\"name\":\"io\",\"vcpus\":1,\"workload\":{\"kind\":\"io\",\"think_us\":5000,\"service_us\":500}}]}";
	const char *rest[] = { "hog", "w2-0", "w2-1", "s-0", "s-1", "io" };

	/* no flag: Credit exactly */
	cJSON *c = run_json(json, "credit", 0), *h0 = run_json(json, "hybrid", 0);
	char *a = cJSON_PrintUnformatted(cJSON_GetObjectItem(c, "vms"));
	char *b = cJSON_PrintUnformatted(cJSON_GetObjectItem(h0, "vms"));
	EXPECT(!strcmp(a, b), "hybrid with no VM flagged gives Credit's per-VM results");
	EXPECT(num(c, "sim_ms") == num(h0, "sim_ms"), "and Credit's run length");
	free(a);
	free(b);

	/* flagged: par as under gang, the rest as under Credit */
	cJSON *g = run_json(json, "gang", 1), *h = run_json(json, "hybrid", 1);
	const cJSON *pg = vm_of(g, "par"), *ph = vm_of(h, "par");
	double cg = num(pg, "completion_ms"), ch = num(ph, "completion_ms");
	double lwg = num(cJSON_GetObjectItem(pg, "spin"), "long_waits");
	double lwh = num(cJSON_GetObjectItem(ph, "spin"), "long_waits");
	printf("hybrid vs gang for the flagged VM: completion %.1f vs %.1f ms, long waits %.0f vs %.0f\n",
	       ch, cg, lwh, lwg);
	EXPECT(lwh == 0 && lwg == 0, "no long waits when gang-scheduled (hybrid %.0f, gang %.0f)", lwh, lwg);
	EXPECT(fabs(ch / cg - 1) < 0.15, "completion within 15%% of gang's: %.1f vs %.1f ms", ch, cg);
	double sc = 0, sh = 0;
	printf("hybrid vs credit for the others (work_ms per ms):");
	for (int i = 0; i < 6; i++) {
		printf(" %s %.3f/%.3f", rest[i], rate(h, rest[i]), rate(c, rest[i]));
		sc += rate(c, rest[i]);
		sh += rate(h, rest[i]);
	}
	printf("; total %.3f vs %.3f\n", sh, sc);
	EXPECT(fabs(sh / sc - 1) < 0.05, "the others' total throughput within 5%% of credit's: %.3f vs %.3f", sh, sc);
	cJSON_Delete(c);
	cJSON_Delete(h0);
	cJSON_Delete(g);
	cJSON_Delete(h);
}

int main(void)
{
	randomized();
	too_wide();
	shares();
	fragmentation();
	hybrid_matches();
	return t_finish("test_gang");
}
