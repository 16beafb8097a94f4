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
#include "sim/results.h"
#include <dirent.h>

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

/* The scaling family: P pCPUs with 4P vCPUs: P/2 VMs of 4 vCPUs running bsp,
 * P/4 VMs of 4 cpu_bound vCPUs and P single-vCPU io VMs (1024 pCPUs: 4096 vCPUs,
 * the size of issue 7's target). */
static char *scaling_json(int pcpus, double sim_ms)
{
	char *j = malloc(1024);
	snprintf(j, 1024,
		 "{\"name\":\"scale%d\",\"stop\":{\"max_ms\":%g},\"host\":{\"pcpus\":%d},"
		 "\"vms\":[{\"name\":\"bsp\",\"count\":%d,\"vcpus\":4,\"workload\":{\"kind\":\"bsp\","
		 "\"iterations\":100000000,\"grain_us\":200,\"locks_per_phase\":2,\"cs_ns\":500}},"
		 "{\"name\":\"hog\",\"count\":%d,\"vcpus\":4,\"workload\":{\"kind\":\"cpu_bound\"}},"
		 "{\"name\":\"io\",\"count\":%d,\"workload\":{\"kind\":\"io\",\"think_us\":2000}}]}",
		 pcpus, sim_ms, pcpus, pcpus / 2, pcpus / 4, pcpus);
	return j;
}

static void print_row(const char *name, const char *json)
{
	struct result r = run_model(json);
	size_t pending = r.avg_pending < 8 ? 8 : (size_t)r.avg_pending;
	double bare = bare_queue_rate(pending, 10000000);
	printf("%-44s %12llu %9.2f %9.1f %11.2f %7.2f %9.1f\n", name, r.events, r.events_per_s / 1e6,
	       1e9 / r.events_per_s, bare / 1e6, bare / r.events_per_s, r.sim_per_wall);
	fflush(stdout);
}

static double cpu_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static int by_name(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* `vcpusim-bench runs DIR`: the sweep's baseline (issue 15): every
 * DIR/runs/NAME.scenario.json of a finished sweep loaded, simulated and its
 * results JSON printed to memory, one after another in this process, as `vcpusim
 * run` would, with the CPU time that takes. A sweep's CPU time minus this is its
 * fixed per-run cost (scripts/sweep-cost.sh). */
static int bench_runs(const char *dir)
{
	char path[4096];
	snprintf(path, sizeof path, "%s/runs", dir);
	DIR *d = opendir(path);
	if (!d) {
		fprintf(stderr, "bench: cannot open %s\n", path);
		return 2;
	}
	size_t n = 0, cap = 0;
	char **names = NULL;
	struct dirent *e;
	while ((e = readdir(d))) {
		size_t l = strlen(e->d_name);
		if (l > 14 && !strcmp(e->d_name + l - 14, ".scenario.json")) {
			if (n == cap) {
				cap = cap ? 2 * cap : 256;
				names = realloc(names, cap * sizeof *names);
			}
			names[n++] = strdup(e->d_name);
		}
	}
	closedir(d);
	qsort(names, n, sizeof *names, by_name);
	double t0 = cpu_s();
	unsigned long long events = 0;
	for (size_t i = 0; i < n; i++) {
		snprintf(path, sizeof path, "%s/runs/%s", dir, names[i]);
		struct jp jp;
		jp_init(&jp, path);
		struct scenario *sc = scenario_load(&jp, path, NULL, 0);
		if (!sc) {
			fprintf(stderr, "%s\n", jp.msg);
			return 2;
		}
		struct sim *s = sim_create(sc);
		sim_run(s);
		events += s->events;
		cJSON *r = results_build(s, 0);
		char *text = cJSON_Print(r);
		free(text);
		cJSON_Delete(r);
		sim_destroy(s);
		scenario_free(sc);
		free(names[i]);
	}
	free(names);
	printf("%zu runs in one process: %.3f s CPU, %llu events\n", n, cpu_s() - t0, events);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc == 3 && !strcmp(argv[1], "runs"))
		return bench_runs(argv[2]);
	/* `vcpusim-bench case N`: one scaling case in this process (for its peak memory) */
	if (argc == 3 && !strcmp(argv[1], "case")) {
		int p = atoi(argv[2]);
		char name[64], *j = scaling_json(p, p >= 1024 ? 1000 : 2000);
		snprintf(name, sizeof name, "%d pCPUs, %d vCPUs", p, 4 * p);
		print_row(name, j);
		free(j);
		printf("  peak memory %.1f MB\n", (double)peak_rss_kb() / 1024);
		return 0;
	}
	printf("%-44s %12s %9s %9s %11s %7s %9s\n", "scenario", "events", "Mev/s", "ns/ev",
	       "bare Mev/s", "ratio", "sim/wall");
	print_row("16 pCPUs, 8 VMs x 4 vCPUs bsp (issue 2)",
		  "{\"name\":\"bench16\",\"stop\":{\"max_ms\":20000},\"host\":{\"pcpus\":16},"
		  "\"vms\":[{\"name\":\"bsp\",\"count\":8,\"vcpus\":4,\"workload\":{\"kind\":\"bsp\","
		  "\"iterations\":1000000,\"grain_us\":200,\"locks_per_phase\":2,\"cs_ns\":500}}]}");
	print_row("4 pCPUs, built-in scenario", scenario_builtin_default);
	printf("peak memory so far: %.1f MB\n\nscaling: P pCPUs, P/2 bsp VMs + P/4 hog VMs of 4 vCPUs, P io VMs (4P vCPUs)\n",
	       (double)peak_rss_kb() / 1024);
	fflush(stdout);
	int sizes[] = { 4, 16, 64, 256, 1024 };
	for (size_t i = 0; i < sizeof sizes / sizeof *sizes; i++) {
		char cmd[4096], n[16];
		snprintf(n, sizeof n, "%d", sizes[i]);
		snprintf(cmd, sizeof cmd, "'%s' case %s", argv[0], n);
		if (system(cmd) != 0)
			fprintf(stderr, "bench: case %s failed\n", n);
	}
	return 0;
}
