/* test_io.c: the non-concurrent workloads against issue 4.
 *
 * io: a 1-vCPU sleep/wake VM (service 200 us, think 5 ms, exponential) beside two
 * 2-vCPU CPU hogs on 2 pCPUs, 5 s. Under Credit with BOOST a waking vCPU that is
 * UNDER preempts a hog at once; without BOOST it queues behind the hogs' 30 ms
 * slices. The p99 wake-to-run latency must be far (10x) lower with BOOST, and more
 * requests must be served. mixed: the desktop-like load serves requests, reports
 * latencies, ends after `bursts`, and is deterministic. Both tables are printed. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "sim/scenario.h"
#include "sim/sim.h"
#include "sim/results.h"

static int failures;

#define CHECK(cond, ...) do { if (!(cond)) { failures++; printf("FAIL: " __VA_ARGS__); printf("\n"); } } while (0)

struct lat {
	double p50, p99, max;
	uint64_t requests;
	double completion_ms;
};

static struct lat run(const char *workload, int boost, int seed, int hogs)
{
	char json[1024];
	snprintf(json, sizeof json,
		 "{\"name\": \"io\", \"seed\": %d, \"check\": true, \"stop\": {\"max_ms\": 5000},"
		 " \"host\": {\"pcpus\": 2}, \"scheduler\": {\"policy\": \"credit\", \"boost\": %s},"
		 " \"vms\": [{\"name\": \"lat\", \"vcpus\": 1, \"workload\": %s},"
		 " {\"name\": \"hog\", \"count\": %d, \"vcpus\": 2, \"workload\": {\"kind\": \"cpu_bound\"}}]}",
		 seed, boost ? "true" : "false", workload, hogs);
	struct jp jp;
	jp_init(&jp, "test_io");
	cJSON *doc = cJSON_Parse(json);
	struct scenario *sc = doc ? scenario_from_json(&jp, doc) : NULL;
	cJSON_Delete(doc);
	if (!sc) {
		printf("FAIL: scenario rejected: %s\n", jp.msg);
		exit(1);
	}
	struct sim *s = sim_create(sc);
	if (sim_run(s) != 0) {
		printf("FAIL: invariant broken\n");
		exit(1);
	}
	struct vm *vm = &s->vms[0];
	struct lat l = {
		results_wake_latency_ns(vm, 0.50) / 1e3, results_wake_latency_ns(vm, 0.99) / 1e3,
		(double)vm->wake_lat_max / 1e3, vm->st.requests,
		vm->done_time >= 0 ? simtime_ms(vm->done_time) : NAN,
	};
	sim_destroy(s);
	scenario_free(sc);
	return l;
}

static void row(const char *what, struct lat l)
{
	printf("%-34s %10.1f %10.1f %10.1f %9llu\n", what, l.p50, l.p99, l.max,
	       (unsigned long long)l.requests);
}

int main(void)
{
	const char *io = "{\"kind\": \"io\", \"service_us\": 200, \"think_us\": 5000}";
	const char *mixed = "{\"kind\": \"mixed\"}";
	printf("1-vCPU latency VM beside 2 x 2-vCPU CPU hogs, 2 pCPUs, Credit, 5 s\n");
	printf("%-34s %10s %10s %10s %9s\n", "wake-to-run latency (us)", "p50", "p99", "max", "requests");
	struct lat b = run(io, 1, 1, 2), nb = run(io, 0, 1, 2);
	row("io, boost", b);
	row("io, \"boost\": false", nb);
	CHECK(b.p99 * 10 <= nb.p99, "io p99 with BOOST %.1f us not far below %.1f us", b.p99, nb.p99);
	CHECK(b.requests > nb.requests, "BOOST served fewer requests");
	CHECK(b.requests > 800, "io served only %llu requests in 5 s", (unsigned long long)b.requests);

	struct lat mb = run(mixed, 1, 1, 2), mnb = run(mixed, 0, 1, 2);
	row("mixed, boost", mb);
	row("mixed, \"boost\": false", mnb);
	CHECK(mb.requests > 100, "mixed served only %llu requests", (unsigned long long)mb.requests);
	CHECK(mb.p50 <= mnb.p50, "mixed median latency worse with BOOST");

	/* finite mixed: ends after its bursts, deterministically */
	const char *fin = "{\"kind\": \"mixed\", \"bursts\": 50, \"think_prob\": 0.1}";
	struct lat f1 = run(fin, 1, 7, 1), f2 = run(fin, 1, 7, 1);
	CHECK(f1.requests == 50 && !isnan(f1.completion_ms), "mixed with 50 bursts: %llu requests",
	      (unsigned long long)f1.requests);
	CHECK(f1.completion_ms == f2.completion_ms && f1.p99 == f2.p99, "mixed not deterministic");

	printf("\n%s\n", failures ? "FAILED" : "ok");
	return failures ? 1 : 0;
}
