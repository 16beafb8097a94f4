/* bench.c: `make bench`: the engine's cost per event (DEVELOPERS.md, "Speed is a
 * feature"). For each fixed scenario it reports model events per second and, in
 * the same run, the rate of a bare loop over the same event queue holding as many
 * pending events as the model held on average: the ratio between them is the
 * figure to quote, since machines here are noisy. Targets (issue 2): >= 5 M model
 * events/s for the 16-pCPU bsp host, within 4x of the bare queue loop. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/resource.h>
#include "sim/rng.h"
#include "sim/scenario.h"
#include "sim/sim.h"

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void nop(struct sim *s, struct event *e) { (void)s; (void)e; }

/* Pops the earliest event and re-arms it a random delay later, n times. */
static double bare_queue_rate(size_t pending, long n)
{
	struct eventq q;
	struct event *ev = calloc(pending, sizeof *ev);
	gsl_rng *r = rng_stream(1, RNG_WORKLOAD, 7);
	evq_init(&q);
	for (size_t i = 0; i < pending; i++) {
		event_init(&ev[i], nop, NULL, 0);
		evq_schedule(&q, &ev[i], (simtime_t)gsl_rng_uniform_int(r, 1000000));
	}
	/* precomputed delays so the loop measures the queue, not the generator */
	enum { ND = 4096 };
	simtime_t delay[ND];
	for (int i = 0; i < ND; i++)
		delay[i] = 1 + (simtime_t)gsl_rng_uniform_int(r, 1000000);
	double t0 = now_s();
	for (long i = 0; i < n; i++) {
		struct event *e = evq_pop(&q);
		e->fire(NULL, e);
		evq_schedule(&q, e, e->when + delay[i & (ND - 1)]);
	}
	double dt = now_s() - t0;
	evq_free(&q);
	free(ev);
	gsl_rng_free(r);
	return (double)n / dt;
}

struct result { double events_per_s, sim_per_wall, avg_pending; unsigned long long events; };

static struct result run_model(const char *json)
{
	struct jp jp;
	jp_init(&jp, "(bench)");
	cJSON *doc = cJSON_Parse(json);
	struct scenario *sc = scenario_from_json(&jp, doc);
	cJSON_Delete(doc);
	if (!sc) {
		fprintf(stderr, "bench scenario rejected: %s\n", jp.msg);
		exit(1);
	}
	struct sim *s = sim_create(sc);
	double t0 = now_s();
	sim_run(s);
	double dt = now_s() - t0;
	struct result r = { (double)s->events / dt, simtime_ms(s->end) / 1e3 / dt, 0, (unsigned long long)s->events };
	/* pending events: one per pCPU (schedule) and per policy timer, plus one per
	 * running guest step; sample at the end as an estimate */
	r.avg_pending = (double)evq_size(&s->q);
	sim_destroy(s);
	scenario_free(sc);
	return r;
}

static long peak_rss_kb(void)
{
	struct rusage ru;
	getrusage(RUSAGE_SELF, &ru);
	return ru.ru_maxrss;
}

int main(int argc, char **argv)
{
	struct { const char *name; const char *json; } cases[] = {
		{ "16 pCPUs, 8 VMs x 4 vCPUs bsp (issue 2)",
		  "{\"name\":\"bench16\",\"stop\":{\"max_ms\":20000},\"host\":{\"pcpus\":16},"
		  "\"vms\":[{\"name\":\"bsp\",\"count\":8,\"vcpus\":4,\"workload\":{\"kind\":\"bsp\","
		  "\"iterations\":1000000,\"grain_us\":200,\"locks_per_phase\":2,\"cs_ns\":500}}]}" },
		{ "4 pCPUs, lock-heavy VM + hog (default scenario)", NULL },
	};
	cases[1].json = scenario_builtin_default;
	printf("%-50s %12s %10s %12s %12s %8s\n", "scenario", "events", "Mev/s", "sim s/wall s",
	       "bare Mev/s", "ratio");
	for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
		struct result r = run_model(cases[i].json);
		size_t pending = r.avg_pending < 8 ? 8 : (size_t)r.avg_pending;
		double bare = bare_queue_rate(pending, 20000000);
		printf("%-50s %12llu %10.2f %12.1f %12.2f %8.2f\n", cases[i].name, r.events,
		       r.events_per_s / 1e6, r.sim_per_wall, bare / 1e6, bare / r.events_per_s);
	}
	printf("peak memory: %.1f MB\n", (double)peak_rss_kb() / 1024);
	(void)argc;
	(void)argv;
	return 0;
}
