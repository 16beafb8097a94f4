/* test_policies2.c: the policies and lock kinds beyond the 2011 paper (issue 8,
 * "What must be shown"): each policy's defining property checked after every event
 * of randomized scenarios (the policies' check operations, run under "check"),
 * weight-proportional shares under credit2 and kvm, pause-loop exiting against
 * the lock convoy, pmtlock against ticket, and bad input refused. */
#include <math.h>
#include <stdarg.h>
#include <time.h>
#include "testlib.h"
#include "sim/rng.h"

/* ---- randomized scenarios, every event checked */

static const char *const policies[] = { "balance", "relaxed", "credit2", "coresched", "kvm", NULL };
static const char *const locks[] = { "ticket", "tas", "pvticket", "pmtlock" };

static void add(char *buf, size_t n, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void add(char *buf, size_t n, const char *fmt, ...)
{
	size_t l = strlen(buf);
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(buf + l, n - l, fmt, ap);
	va_end(ap);
}

static void randomized(const char *policy, int seed)
{
	gsl_rng *r = rng_stream((uint64_t)seed, RNG_WORKLOAD, 4242);
	int threads = 1 + (int)gsl_rng_uniform_int(r, 2);
	if (!strcmp(policy, "coresched"))
		threads = 2 + (int)gsl_rng_uniform_int(r, 3);   /* 2 to 4 SMT threads */
	int cores = 1 + (int)gsl_rng_uniform_int(r, threads > 2 ? 2 : 3);
	int pcpus = cores * threads;
	char json[4096] = "";
	add(json, sizeof json,
	    "{\"name\":\"rand-%s-%d\",\"seed\":%d,\"stop\":{\"max_ms\":1000},\"check\":true,"
	    "\"host\":{\"cores\":%d,\"threads\":%d},\"scheduler\":{\"policy\":\"%s\"%s},"
	    "\"guest\":{\"spinlock\":\"%s\"},\"vms\":[",
	    policy, seed, seed, cores, threads, policy,
	    !strcmp(policy, "kvm") ? (const char *const[]){ "", ",\"weights\":\"vm\"", ",\"fair\":\"cfs\"",
	    ",\"ple\":false", ",\"fair\":\"cfs\",\"weights\":\"vm\"" }[seed % 5] : "",
	    locks[gsl_rng_uniform_int(r, 4)]);
	int nvms = 2 + (int)gsl_rng_uniform_int(r, 3);
	for (int i = 0; i < nvms; i++) {
		int vcpus = 1 + (int)gsl_rng_uniform_int(r, (unsigned long)pcpus);
		int weight = 128 * (1 + (int)gsl_rng_uniform_int(r, 4));
		add(json, sizeof json, "%s{\"name\":\"v%d\",\"vcpus\":%d,\"weight\":%d,\"workload\":", i ? "," : "",
		    i, vcpus, weight);
		static const char *const kernels[] = { "lu", "cg", "mg", "sp", "bt" };
		switch (gsl_rng_uniform_int(r, 4)) {
		case 3:
			/* NPB-like kernels add hand-off flag spins (pipelined sweeps) */
			add(json, sizeof json, "{\"kind\":\"npb\",\"kernel\":\"%s\",\"class\":\"S\"}}",
			    kernels[gsl_rng_uniform_int(r, 5)]);
			break;
		case 0:
			add(json, sizeof json, "{\"kind\":\"cpu_bound\"}}");
			break;
		case 1:
			add(json, sizeof json, "{\"kind\":\"io\",\"think_us\":%d,\"service_us\":%d}}",
			    200 + (int)gsl_rng_uniform_int(r, 3000), 50 + (int)gsl_rng_uniform_int(r, 500));
			break;
		default:
			add(json, sizeof json,
			    "{\"kind\":\"bsp\",\"iterations\":100000,\"grain_us\":%d,\"locks_per_phase\":%d,"
			    "\"cs_ns\":%d,\"barrier\":%s}}",
			    50 + (int)gsl_rng_uniform_int(r, 1000), (int)gsl_rng_uniform_int(r, 12),
			    500 + (int)gsl_rng_uniform_int(r, 3000), gsl_rng_uniform_int(r, 2) ? "true" : "false");
			break;
		}
	}
	add(json, sizeof json, "]}");
	gsl_rng_free(r);
	struct scenario *sc = t_scenario(json);
	struct sim *s = t_run(sc);
	EXPECT(s->events > 50, "%s ran (%llu events)", sc->name, (unsigned long long)s->events);
	if (getenv("T_VERBOSE"))
		printf("%s: %llu events, %d pCPUs, %d vCPUs\n", sc->name, (unsigned long long)s->events,
		       s->host.npcpus, s->nvcpus);
	t_done(s, sc);
}

/* ---- weight-proportional shares
 *
 * tol: the relative error allowed on b/a and c/a. 2% where one runqueue holds
 * every thread or the scheduler balances credit across pCPUs (credit2). 3% for kvm
 * with 6 threads on 4 pCPUs: there the shares come from where the periodic and
 * idle balances leave each thread, and the lightest VM gets systematically a
 * little less than its share, not by sampling: c/a over 60 s is 3.042-3.055 on
 * seeds 1-8 (b/a 2.011-2.020), alike before and after the periodic balance was
 * put on the tick grid (66eab5c); over 20 s it is 3.016-3.061 on those seeds
 * (seed 1, this test's: 3.054 before that fix, 3.061 after). Linux's load
 * balancing, which moves whole tasks by load at balance instants
 * (detach_tasks, kernel/sched/fair.c), does not promise exact proportionality
 * across CPUs either; we have no real measurement of this case. */

static void shares(const char *policy, const char *host, int vcpus, double secs, double tol)
{
	char json[1024];
	const char *extra = "";
	if (!strcmp(policy, "kvm-cfs")) {
		policy = "kvm";
		extra = ",\"fair\":\"cfs\"";
	}
	snprintf(json, sizeof json,
		 "{\"name\":\"shares-%s\",\"stop\":{\"max_ms\":%g},\"host\":%s,"
		 "\"scheduler\":{\"policy\":\"%s\"%s},\"vms\":["
		 "{\"name\":\"a\",\"vcpus\":%d,\"weight\":256,\"workload\":{\"kind\":\"cpu_bound\"}},"
		 "{\"name\":\"b\",\"vcpus\":%d,\"weight\":512,\"workload\":{\"kind\":\"cpu_bound\"}},"
		 "{\"name\":\"c\",\"vcpus\":%d,\"weight\":768,\"workload\":{\"kind\":\"cpu_bound\"}}]}",
		 policy, secs * 1000, host, policy, extra, vcpus, vcpus, vcpus);
	struct scenario *sc = t_scenario(json);
	sc->check = 0;   /* long run: invariants are covered by the randomized runs */
	struct sim *s = t_run(sc);
	double a = t_cpu_ms(t_vm(s, "a")), b = t_cpu_ms(t_vm(s, "b")), c = t_cpu_ms(t_vm(s, "c"));
	double tot = a + b + c;
	printf("%-8s%s %s, %d vCPU(s) each, weights 1:2:3 over %g s: shares %.4f %.4f %.4f (ideal 1/6 1/3 1/2)\n",
	       policy, *extra ? " (cfs)" : "", host, vcpus, secs, a / tot, b / tot, c / tot);
	EXPECT(fabs(b / a - 2) <= 2 * tol && fabs(c / a - 3) <= 3 * tol,
	       "%s: b/a = %.4f (2), c/a = %.4f (3), expected within %g%%", policy, b / a, c / a,
	       100 * tol);
	t_done(s, sc);
}

/* kvm with weights "vm" (a cgroup per VM): VMs of different widths share by VM */
static void vm_weights(void)
{
	struct scenario *sc = t_scenario(
		"{\"name\":\"vmw\",\"stop\":{\"max_ms\":20000},\"host\":{\"pcpus\":2},"
		"\"scheduler\":{\"policy\":\"kvm\",\"weights\":\"vm\"},"
		"\"vms\":[{\"name\":\"a\",\"vcpus\":1,\"workload\":{\"kind\":\"cpu_bound\"}},"
		"{\"name\":\"b\",\"vcpus\":3,\"workload\":{\"kind\":\"cpu_bound\"}}]}");
	sc->check = 0;
	struct sim *s = t_run(sc);
	double a = t_cpu_ms(t_vm(s, "a")), b = t_cpu_ms(t_vm(s, "b"));
	printf("kvm weights vm, 2 pCPUs, 1-vCPU and 3-vCPU VMs of equal weight: %.4f and %.4f pCPUs\n",
	       a / 20000, b / 20000);
	EXPECT(fabs(b / a - 1) <= 0.02, "b/a = %.4f, expected 1 within 2%%", b / a);
	t_done(s, sc);
}

/* ---- the lock convoy: 4-vCPU lock-heavy VM beside a 4-vCPU hog on 4 pCPUs */

static uint64_t convoy(const char *sched, const char *lock, double *completion, uint64_t *acq)
{
	char json[1024];
	snprintf(json, sizeof json,
		 "{\"name\":\"convoy\",\"stop\":{\"max_ms\":4000},\"host\":{\"activity\":\"off\",\"pcpus\":4},"
		 "\"scheduler\":%s,\"guest\":{\"spinlock\":\"%s\",\"spin_iteration_cycles\":10},"
		 "\"vms\":[{\"name\":\"par\",\"vcpus\":4,\"workload\":{\"kind\":\"bsp\",\"iterations\":2000,"
		 "\"grain_us\":500,\"barrier\":false,\"locks_per_phase\":10,\"cs_ns\":2000}},"
		 "{\"name\":\"hog\",\"vcpus\":4,\"workload\":{\"kind\":\"cpu_bound\"}}]}",
		 sched, lock);
	struct scenario *sc = t_scenario(json);
	struct sim *s = t_run(sc);
	struct vm *par = t_vm(s, "par");
	uint64_t lw = par->st.long_waits;
	*completion = par->done_time >= 0 ? simtime_ms(par->done_time) : -1;
	if (acq)
		*acq = par->st.acquisitions;
	printf("convoy, scheduler %s, %s: %llu long waits, %llu acquisitions, completion %s%.1f ms\n",
	       sched, lock, (unsigned long long)lw, (unsigned long long)par->st.acquisitions,
	       *completion < 0 ? "none by " : "", *completion < 0 ? 4000.0 : *completion);
	t_done(s, sc);
	return lw;
}

/* relaxed really co-stops: the leaders of the lock-heavy VM, with barriers */
static void relaxed_costops(void)
{
	struct scenario *sc = t_scenario(
		"{\"name\":\"relaxed\",\"stop\":{\"max_ms\":3000},\"host\":{\"pcpus\":4},"
		"\"scheduler\":{\"policy\":\"relaxed\"},"
		"\"vms\":[{\"name\":\"par\",\"vcpus\":4,\"workload\":{\"kind\":\"bsp\",\"iterations\":2000,"
		"\"grain_us\":500,\"locks_per_phase\":10,\"cs_ns\":2000}},"
		"{\"name\":\"hog\",\"vcpus\":4,\"workload\":{\"kind\":\"cpu_bound\"}}]}");
	struct sim *s = t_run(sc);
	cJSON *o = cJSON_CreateObject();
	s->ops->report_vm(s, t_vm(s, "par"), o);
	double costops = cJSON_GetObjectItem(o, "costops")->valuedouble;
	double ms = cJSON_GetObjectItem(o, "costop_ms")->valuedouble;
	printf("relaxed, lock and barrier VM beside a hog: %.0f co-stops, %.1f ms co-stopped\n", costops, ms);
	EXPECT(costops > 10, "relaxed co-stopped leading vCPUs (%.0f times)", costops);
	cJSON_Delete(o);
	t_done(s, sc);
}

/* Without PLE the convoy also slows acquisitions down, which caps the count of
 * long waits in a fixed time: both the count and the share of acquisitions that
 * wait long must fall. */
static void ple(void)
{
	const char *fair[] = { "eevdf", "cfs" };
	for (int i = 0; i < 2; i++) {
		char on_s[128], off_s[128];
		double c_on, c_off;
		uint64_t a_on, a_off;
		snprintf(on_s, sizeof on_s, "{\"policy\":\"kvm\",\"fair\":\"%s\",\"ple\":true}", fair[i]);
		snprintf(off_s, sizeof off_s, "{\"policy\":\"kvm\",\"fair\":\"%s\",\"ple\":false}", fair[i]);
		uint64_t on = convoy(on_s, "ticket", &c_on, &a_on);
		uint64_t off = convoy(off_s, "ticket", &c_off, &a_off);
		EXPECT(off >= 100, "%s without PLE the convoy forms: %llu long waits", fair[i],
		       (unsigned long long)off);
		EXPECT(on * 4 <= off, "%s: PLE %llu long waits, without %llu: expected at most a quarter",
		       fair[i], (unsigned long long)on, (unsigned long long)off);
		EXPECT((double)on / (double)a_on * 50 <= (double)off / (double)a_off,
		       "%s: PLE %.4f of acquisitions wait long, without %.4f: expected 50x fewer",
		       fair[i], (double)on / (double)a_on, (double)off / (double)a_off);
		EXPECT(c_on > 0, "%s with PLE the convoy VM finishes (%.1f ms)", fair[i], c_on);
	}
}

static void pmtlock(void)
{
	const char *scheds[] = { "{\"policy\":\"credit\"}", "{\"policy\":\"kvm\",\"ple\":false}" };
	for (int i = 0; i < 2; i++) {
		double c_t, c_p;
		uint64_t t = convoy(scheds[i], "ticket", &c_t, NULL);
		uint64_t p = convoy(scheds[i], "pmtlock", &c_p, NULL);
		EXPECT(p * 2 <= t, "%s: pmtlock %llu long waits, ticket %llu: expected at most half",
		       scheds[i], (unsigned long long)p, (unsigned long long)t);
	}
}

/* ---- same scenario and seed: identical results (interface.md) */

static char *results_of(const char *json)
{
	struct scenario *sc = t_scenario(json);
	sc->check = 0;
	struct sim *s = sim_create(sc);
	EXPECT(sim_run(s) == 0, "ran");
	cJSON *r = results_build(s, 0.0);
	char *txt = cJSON_PrintUnformatted(r);
	cJSON_Delete(r);
	t_done(s, sc);
	return txt;
}

static void determinism(void)
{
	for (int i = 0; policies[i]; i++) {
		char json[1024];
		snprintf(json, sizeof json,
			 "{\"name\":\"det\",\"seed\":7,\"stop\":{\"max_ms\":2000},"
			 "\"host\":{\"cores\":2,\"threads\":2},\"scheduler\":{\"policy\":\"%s\"},"
			 "\"guest\":{\"spinlock\":\"pmtlock\"},"
			 "\"vms\":[{\"name\":\"par\",\"vcpus\":4,\"workload\":{\"kind\":\"bsp\",\"iterations\":1000,"
			 "\"grain_us\":300,\"locks_per_phase\":5,\"cs_ns\":1500}},"
			 "{\"name\":\"hog\",\"vcpus\":2,\"workload\":{\"kind\":\"cpu_bound\"}},"
			 "{\"name\":\"io\",\"workload\":{\"kind\":\"io\",\"think_us\":2000}}]}",
			 policies[i]);
		char *a = results_of(json), *b = results_of(json);
		EXPECT(!strcmp(a, b), "%s: two runs of one scenario and seed give identical results", policies[i]);
		free(a);
		free(b);
	}
}

/* ---- bad input */

static int rejected(const char *json, const char *want)
{
	struct jp jp;
	jp_init(&jp, "bad.json");
	cJSON *doc = cJSON_Parse(json);
	struct scenario *sc = scenario_from_json(&jp, doc);
	cJSON_Delete(doc);
	int ok = !sc && strstr(jp.msg, want);
	EXPECT(ok, "rejected with a message containing \"%s\"; got %s", want, sc ? "(accepted)" : jp.msg);
	scenario_free(sc);
	return ok;
}

static void bad_input(void)
{
	for (int i = 0; policies[i]; i++) {
		char json[512];
		snprintf(json, sizeof json,
			 "{\"host\":{\"cores\":2,\"threads\":2},\"scheduler\":{\"policy\":\"%s\",\"tpyo\":1},"
			 "\"vms\":[{\"workload\":{\"kind\":\"cpu_bound\"}}]}", policies[i]);
		rejected(json, "scheduler");
	}
	rejected("{\"host\":{\"cores\":2,\"threads\":2},\"scheduler\":{\"policy\":\"coresched\"},"
		 "\"vms\":[{\"cap\":50,\"workload\":{\"kind\":\"cpu_bound\"}}]}", "caps");
	rejected("{\"host\":{\"pcpus\":2},\"scheduler\":{\"policy\":\"balance\"},"
		 "\"vms\":[{\"vcpus\":3,\"workload\":{\"kind\":\"cpu_bound\"}}]}", "vms");
	rejected("{\"scheduler\":{\"policy\":\"kvm\",\"ple_window\":\"big\"},"
		 "\"vms\":[{\"workload\":{\"kind\":\"cpu_bound\"}}]}", "scheduler.ple_window");
	rejected("{\"scheduler\":{\"policy\":\"relaxed\",\"skew_ms\":2,\"costart_ms\":3},"
		 "\"vms\":[{\"workload\":{\"kind\":\"cpu_bound\"}}]}", "costart_ms");
	rejected("{\"guest\":{\"spinlock\":\"pmt\"},\"vms\":[{\"workload\":{\"kind\":\"cpu_bound\"}}]}",
		 "guest.spinlock");
	/* every policy is listed with its source */
	int n = 0;
	for (int i = 0; sched_policies[i]; i++) {
		EXPECT(sched_policies[i]->source && *sched_policies[i]->source && sched_policies[i]->summary,
		       "%s has a summary and a source", sched_policies[i]->name);
		n++;
	}
	for (int i = 0; policies[i]; i++)
		EXPECT(sched_find(policies[i]) != NULL, "%s is registered", policies[i]);
	printf("%d policies registered\n", n);
}

static double t0;
static void lap(const char *what)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	double t = (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
	if (t0 > 0)
		printf("[%s: %.2f s]\n", what, t - t0);
	t0 = t;
}

int main(void)
{
	lap("");
	for (int i = 0; policies[i]; i++) {
		for (int seed = 1; seed <= 16; seed++)
			randomized(policies[i], seed);
		lap(policies[i]);
	}
	shares("credit2", "{\"pcpus\":1}", 1, 20, 0.02);
	shares("kvm", "{\"pcpus\":1}", 1, 20, 0.02);
	shares("credit2", "{\"pcpus\":4}", 2, 20, 0.02);
	shares("kvm", "{\"pcpus\":4}", 2, 20, 0.03);   /* see shares() */
	shares("kvm-cfs", "{\"pcpus\":1}", 1, 20, 0.02);
	shares("kvm-cfs", "{\"pcpus\":4}", 2, 20, 0.02);
	vm_weights();
	lap("shares");
	relaxed_costops();
	ple();
	pmtlock();
	lap("convoys");
	determinism();
	bad_input();
	lap("determinism and bad input");
	return t_finish("test_policies2");
}
