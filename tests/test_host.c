/* test_host.c: the host's own activity and timers (issue 12; docs/host-profile.md).
 *  - Credit's shares do not depend on the seed once timers drift: two 2-vCPU
 *    cpu_bound VMs of weights 256 and 768 on 2 pCPUs over 60 s, seeds 1-20, within
 *    5% of each other (the clockwork host gives 2.0 on some seeds and 3.0 on others,
 *    which this test also shows); 1-vCPU VMs on 1 pCPU at 1:2 and 1:3 within 3% of
 *    each other over seeds;
 *  - steal time: busy + idle + steal = time on every pCPU (--check), a stalled vCPU
 *    is charged no work; steal_ms of the VMs adds up to the host's steal while they
 *    ran; the stolen fraction matches the profile's;
 *  - migrations are counted under credit (they were always 0);
 *  - together_ms: a VM alone on enough pCPUs runs all its vCPUs together nearly all
 *    the time; at 2x overcommit under credit much less;
 *  - determinism with host activity on; host.activity "off" has no host events;
 *  - a bad host profile is refused naming the profile file and the JSON path;
 *  - a task's clock (kvm's runtime) excludes another task's run always, interrupt
 *    time only when the profile's kernel has CONFIG_IRQ_TIME_ACCOUNTING: the
 *    reference host has not, so there its tasks are charged the ~0.8% of
 *    interrupt-like time, and a profile saying true excludes all host time. */
#include <math.h>
#include "testlib.h"
#include <unistd.h>
#include "models/host.h"

static double ratio_heavy_light(int seed, const char *activity)
{
	char json[1024];
	snprintf(json, sizeof json,
		 "{\"name\":\"weights\",\"seed\":%d,\"stop\":{\"max_ms\":60000},"
		 "\"host\":{\"pcpus\":2,\"activity\":\"%s\"},\"scheduler\":{\"policy\":\"credit\"},\"vms\":["
		 "{\"name\":\"light\",\"vcpus\":2,\"weight\":256,\"workload\":{\"kind\":\"cpu_bound\"}},"
		 "{\"name\":\"heavy\",\"vcpus\":2,\"weight\":768,\"workload\":{\"kind\":\"cpu_bound\"}}]}",
		 seed, activity);
	struct scenario *sc = t_scenario(json);
	sc->check = 0;   /* long runs: the invariants are checked by the shorter runs below */
	struct sim *s = t_run(sc);
	double r = t_cpu_ms(t_vm(s, "heavy")) / t_cpu_ms(t_vm(s, "light"));
	t_done(s, sc);
	return r;
}

/* heavy/light over seeds 1..n: its smallest and largest */
static void ratio_range(int n, const char *activity, double *lo, double *hi)
{
	*lo = 1e9;
	*hi = 0;
	for (int seed = 1; seed <= n; seed++) {
		double r = ratio_heavy_light(seed, activity);
		*lo = r < *lo ? r : *lo;
		*hi = r > *hi ? r : *hi;
	}
}

static void credit_seed_independence(void)
{
	double lo, hi;
	ratio_range(20, "on", &lo, &hi);
	printf("credit, 2 pCPUs, weights 256:768, 2 vCPUs each, 60 s, seeds 1-20: heavy/light %.3f to %.3f\n", lo, hi);
	EXPECT(hi <= lo * 1.05, "heavy/light within 5%% over seeds: %.3f to %.3f", lo, hi);
	EXPECT(lo > 2.0, "heavy gets clearly more than twice light: %.3f", lo);
	/* the clockwork host: the phase of slices against accounting is frozen per seed */
	double a, b;
	ratio_range(4, "off", &a, &b);
	printf("  same with host.activity off, seeds 1-4: %.3f to %.3f (bimodal)\n", a, b);
	EXPECT(b > a * 1.3, "the clockwork host depends on the seed: %.3f to %.3f", a, b);

	for (int w = 2; w <= 3; w++) {
		double rlo = 1e9, rhi = 0;
		for (int seed = 1; seed <= 6; seed++) {
			char json[768];
			snprintf(json, sizeof json,
				 "{\"name\":\"w1\",\"seed\":%d,\"stop\":{\"max_ms\":60000},\"host\":{\"pcpus\":1},"
				 "\"vms\":[{\"name\":\"a\",\"weight\":256,\"workload\":{\"kind\":\"cpu_bound\"}},"
				 "{\"name\":\"b\",\"weight\":%d,\"workload\":{\"kind\":\"cpu_bound\"}}]}",
				 seed, 256 * w);
			struct scenario *sc = t_scenario(json);
			sc->check = 0;
			struct sim *s = t_run(sc);
			double r = t_cpu_ms(t_vm(s, "b")) / t_cpu_ms(t_vm(s, "a"));
			t_done(s, sc);
			rlo = r < rlo ? r : rlo;
			rhi = r > rhi ? r : rhi;
		}
		printf("credit, 1 pCPU, 1-vCPU VMs 1:%d, 60 s, seeds 1-6: b/a %.3f to %.3f\n", w, rlo, rhi);
		EXPECT(rhi <= rlo * 1.03, "1:%d within 3%% over seeds: %.3f to %.3f", w, rlo, rhi);
		/* Not exactly w: on the clockwork host 1:3 gives 3.0 or 2.0 by the seed,
		 * as the phase of slice ends against the 30 ms accounting decides
		 * (the light VM runs whole slices and the accounting clips its debt at
		 * -credits_per_tslice, sched_credit.c csched_acct); with the phases
		 * drifting the share is their average, 2.7-2.8 for 1:3 on the reference
		 * host. */
		EXPECT(rlo > w * 0.85 && rhi < w * 1.03, "1:%d near %d: %.3f to %.3f", w, w, rlo, rhi);
	}
}

static cJSON *run_json(const char *json)
{
	struct scenario *sc = t_scenario(json);
	struct sim *s = t_run(sc);
	cJSON *r = results_build(s, 0);
	t_done(s, sc);
	return r;
}

static double host_num(cJSON *r, const char *k) { return num(cJSON_GetObjectItem(r, "host"), k); }

static void steal_and_metrics(void)
{
	/* 2x overcommit under credit: a lock-heavy 2-vCPU VM and a hog on 2 pCPUs */
	const char *json =
		"{\"name\":\"steal\",\"seed\":3,\"stop\":{\"max_ms\":3000},\"start_spread_ms\":0,\"host\":{\"pcpus\":2},"
		"\"vms\":[{\"name\":\"par\",\"vcpus\":2,\"workload\":{\"kind\":\"bsp\",\"iterations\":100000,"
		"\"grain_us\":1000,\"locks_per_phase\":4,\"cs_ns\":2000}},"
		"{\"name\":\"hog\",\"vcpus\":2,\"workload\":{\"kind\":\"cpu_bound\"}}]}";
	cJSON *r = run_json(json);
	double steal = host_num(r, "steal_ms"), acts = host_num(r, "activity_events");
	double vm_steal = 0, cpu = 0;
	cJSON *v;
	cJSON_ArrayForEach(v, cJSON_GetObjectItem(r, "vms")) {
		vm_steal += num(v, "steal_ms");
		cpu += num(v, "cpu_ms");
	}
	struct jp jp;
	jp_init(&jp, "(test)");
	struct host_profile *ref = host_profile_load(&jp, "reference", NULL, "host.profile");
	double expect_frac = 0;
	for (int k = 0; k < HOST_CLASSES; k++)
		expect_frac += ref->cls[k].rate_hz * host_hist_mean(&ref->cls[k].len) * 1e-9;
	double frac = steal / (2 * 3000.0);
	printf("2 pCPUs busy 3 s: host steal %.1f ms (%.2f%% per pCPU, the profile's rate x mean length says %.2f%%), "
	       "%g activities; VMs' steal %.1f ms; VMs' CPU %.1f ms\n",
	       steal, 100 * frac, 100 * expect_frac, acts, vm_steal, cpu);
	EXPECT(acts > 100, "host activity happened: %g events", acts);
	EXPECT(fabs(vm_steal - steal) < 1e-6, "every pCPU ran a vCPU throughout, so the VMs' steal (%.3f) is the host's (%.3f)",
	       vm_steal, steal);
	EXPECT(fabs(cpu + steal - 6000) < 1e-3, "CPU + steal = 2 pCPUs x 3 s: %.3f", cpu + steal);
	EXPECT(frac > 0.5 * expect_frac && frac < 2 * expect_frac, "stolen fraction %.4f near the profile's %.4f",
	       frac, expect_frac);
	EXPECT(host_num(r, "migrations") > 0, "credit migrates vCPUs between 2 pCPUs: %g", host_num(r, "migrations"));
	double mig = 0;
	cJSON_ArrayForEach(v, cJSON_GetObjectItem(r, "vms"))
		mig += num(v, "migrations");
	EXPECT(mig == host_num(r, "migrations"), "per-VM migrations (%g) add up to the host's", mig);
	cJSON *par = cJSON_GetArrayItem(cJSON_GetObjectItem(r, "vms"), 0);
	double together_over = num(par, "together_ms"), ready = num(par, "ready_ms");
	cJSON_Delete(r);
	host_profile_free(ref);

	/* the same VM alone: together nearly all the time, no ready time */
	cJSON *a = run_json("{\"name\":\"alone\",\"seed\":3,\"stop\":{\"max_ms\":3000},\"host\":{\"pcpus\":2},"
			    "\"vms\":[{\"name\":\"par\",\"vcpus\":2,\"workload\":{\"kind\":\"bsp\",\"iterations\":100000,"
			    "\"grain_us\":1000,\"locks_per_phase\":4,\"cs_ns\":2000}}]}");
	cJSON *pa = cJSON_GetArrayItem(cJSON_GetObjectItem(a, "vms"), 0);
	double together_alone = num(pa, "together_ms"), ready_alone = num(pa, "ready_ms");
	printf("together_ms: alone %.1f of 3000, beside a hog %.1f; ready_ms alone %.1f, beside a hog %.1f\n",
	       together_alone, together_over, ready_alone, ready);
	EXPECT(together_alone > 0.9 * 3000, "alone, both vCPUs run together nearly always: %.1f ms", together_alone);
	EXPECT(together_over < 0.7 * together_alone, "beside a hog, less together: %.1f ms", together_over);
	EXPECT(ready > 1000 && ready_alone < 1, "ready time beside a hog (%.1f) and alone (%.1f)", ready, ready_alone);
	cJSON_Delete(a);
}

static void determinism_and_off(void)
{
	const char *json =
		"{\"name\":\"det\",\"seed\":9,\"stop\":{\"max_ms\":1000},\"host\":{\"pcpus\":3},"
		"\"scheduler\":{\"policy\":\"kvm\"},\"vms\":[{\"name\":\"par\",\"vcpus\":3,\"workload\":{\"kind\":\"bsp\","
		"\"iterations\":100000,\"grain_us\":300,\"locks_per_phase\":2}},"
		"{\"name\":\"io\",\"workload\":{\"kind\":\"io\"}},{\"name\":\"hog\",\"vcpus\":2,\"workload\":{\"kind\":\"cpu_bound\"}}]}";
	cJSON *a = run_json(json), *b = run_json(json);
	char *ta = cJSON_PrintUnformatted(a), *tb = cJSON_PrintUnformatted(b);
	EXPECT(!strcmp(ta, tb), "same scenario and seed, same results with host activity on");
	free(ta);
	free(tb);
	cJSON_Delete(a);
	cJSON_Delete(b);
	char off[1024];
	snprintf(off, sizeof off, "%s", json);
	char *h = strstr(off, "\"pcpus\":3");
	memmove(h + 17, h, strlen(h) + 1);
	memcpy(h, "\"activity\":\"off\",", 17);
	cJSON *o = run_json(off);
	EXPECT(host_num(o, "activity_events") == 0 && host_num(o, "steal_ms") == 0,
	       "host.activity off: no host events (%g), no steal (%g)", host_num(o, "activity_events"),
	       host_num(o, "steal_ms"));
	cJSON_Delete(o);
}

static void bad_profiles(void)
{
	const char *cases[][2] = {
		{ "{\"vcpusim_host_profile\":1,\"activity\":{\"irq\":{\"rate_hz\":5}}}",
		  "activity.irq: expected length_ns and interarrival_ns" },
		{ "{\"vcpusim_host_profile\":1,\"timer_latency_ns\":{\"hist\":[[5,1,3]]}}",
		  "timer_latency_ns.hist[0]: expected [lo, hi, count]" },
		{ "{\"name\":\"x\"}", "vcpusim_host_profile: missing" },
		{ "{\"vcpusim_host_profile\":1,\"tick_hz\":\"fast\"}", "tick_hz: expected" },
		{ "{\"vcpusim_host_profile\":1,\"colour\":1}", "colour: unknown key" },
		{ "{\"vcpusim_host_profile\":1,\"vcpu_switch_ns\":{\"hist\":[[1,2,3],[0,1,1]]}}",
		  "vcpu_switch_ns.hist[1]: expected [lo, hi, count]" },
		{ "{\"vcpusim_host_profile\":1,\"vcpu_switch_ns\":[1]}", "vcpu_switch_ns: expected" },
	};
	for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
		char path[] = "/tmp/vcpusim-test-profile-XXXXXX";
		int fd = mkstemp(path);
		if (fd < 0 || write(fd, cases[i][0], strlen(cases[i][0])) < 0) {
			EXPECT(0, "temporary file");
			continue;
		}
		close(fd);
		char json[512];
		snprintf(json, sizeof json, "{\"host\":{\"profile\":\"%s\"},\"vms\":[{\"workload\":{\"kind\":\"cpu_bound\"}}]}", path);
		struct jp jp;
		jp_init(&jp, "scen.json");
		cJSON *doc = cJSON_Parse(json);
		struct scenario *sc = scenario_from_json(&jp, doc);
		cJSON_Delete(doc);
		EXPECT(!sc && strstr(jp.msg, "host.profile") && strstr(jp.msg, path) && strstr(jp.msg, cases[i][1]),
		       "bad profile %zu refused naming host.profile, the file and '%s': %s", i, cases[i][1], jp.msg);
		scenario_free(sc);
		unlink(path);
	}
}

/* The pCPUs' excluded host time over a 2 s kvm run with the reference profile,
 * or with a copy saying irq_time_accounting true; *expect: the interrupt-like host
 * time the profile implies (its irq class's rate x mean length, and a vCPU switch's
 * mean per context switch), as a share of *now. */
static void task_clock_run(int irqtime, double *steal, double *excl, double *now, double *expect)
{
	char path[] = "/tmp/vcpusim-prof-XXXXXX";
	int fd = mkstemp(path);
	EXPECT(fd >= 0, "temp profile");
	const char *ref = host_profile_reference_json;
	const char *key = "\"irq_time_accounting\": false";
	const char *at = strstr(ref, key);
	EXPECT(at != NULL, "the reference profile says irq_time_accounting false");
	if (!at)
		return;
	FILE *f = fdopen(fd, "w");
	fprintf(f, "%.*s\"irq_time_accounting\": %s%s", (int)(at - ref), ref, irqtime ? "true" : "false",
		at + strlen(key));
	fclose(f);
	char json[1024];
	snprintf(json, sizeof json,
		 "{\"name\":\"clock\",\"seed\":3,\"stop\":{\"max_ms\":2000},"
		 "\"host\":{\"pcpus\":2,\"profile\":\"%s\"},\"scheduler\":{\"policy\":\"kvm\"},\"vms\":["
		 "{\"name\":\"a\",\"vcpus\":2,\"workload\":{\"kind\":\"cpu_bound\"}},"
		 "{\"name\":\"b\",\"vcpus\":2,\"workload\":{\"kind\":\"cpu_bound\"}}]}", path);
	struct scenario *sc = t_scenario(json);
	struct sim *s = t_run(sc);
	*steal = *excl = 0;
	double switches = 0;
	for (int i = 0; i < s->host.npcpus; i++) {
		*steal += (double)s->host.pcpus[i].steal_ns;
		*excl += (double)s->host.pcpus[i].excl_ns;
		switches += (double)s->host.pcpus[i].context_switches;
	}
	*now = (double)s->now * s->host.npcpus;
	const struct host_profile *hp = sc->profile;
	*expect = hp->cls[HOST_IRQ].rate_hz * host_hist_mean(&hp->cls[HOST_IRQ].len) * 1e-9 +
		  switches * host_hist_mean(&hp->vcpu_switch) / *now;
	t_done(s, sc);
	unlink(path);
}

static void task_clock(void)
{
	double steal, excl, now, expect;
	task_clock_run(0, &steal, &excl, &now, &expect);
	printf("task clock, reference (no IRQ time accounting): host %.2f%%, excluded %.2f%%, charged to tasks %.2f%% "
	       "(interrupts and vCPU switches by the profile: %.2f%%)\n",
	       100 * steal / now, 100 * excl / now, 100 * (steal - excl) / now, 100 * expect);
	EXPECT(excl > 0 && excl < steal, "only the task-like part is excluded: %.0f of %.0f ns", excl, steal);
	EXPECT(expect > 0.01 && fabs((steal - excl) / now / expect - 1) < 0.15,
	       "the interrupt-like share charged to tasks is what the profile says (its irq class, "
	       "0.8%%, and a vCPU switch at every context switch): %.2f%% against %.2f%%",
	       100 * (steal - excl) / now, 100 * expect);
	task_clock_run(1, &steal, &excl, &now, &expect);
	printf("task clock, irq_time_accounting true: host %.2f%%, excluded %.2f%%\n", 100 * steal / now,
	       100 * excl / now);
	EXPECT(excl == steal && steal > 0, "with IRQ time accounting all host time is excluded");
}

int main(void)
{
	task_clock();
	steal_and_metrics();
	determinism_and_off();
	bad_profiles();
	credit_seed_independence();
	printf("test_host: %d checks, %d passed, %d failed\n", t_checks, t_checks - t_failures, t_failures);
	return t_failures ? 1 : 0;
}
