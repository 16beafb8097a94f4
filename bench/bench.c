/* bench.c: `make bench`: the engine's cost per event (DEVELOPERS.md, "Speed is a
 * feature"), measured so that it can be trusted on a busy shared machine (issue 15
 * item 4): by CPU time of this thread (CLOCK_THREAD_CPUTIME_ID), not wall time; with
 * repetitions interleaved (model, bare loop, replay, model, ...) so that a load
 * change hits all three alike; the minimum and the median over them.
 *
 * For each fixed scenario: the model's ns per event; a bare loop over the same event
 * queue (pop the earliest event, re-arm it) holding as many pending events as the
 * model held, whose delays are the model's own re-arm delays (recorded, not a
 * uniform draw); and the replay of the model's own queue operations (every
 * schedule, cancel, pop and peek, in order, on a fresh queue with dummy events),
 * which is the queue's share of the model's cost. The operations are recorded by
 * vcpusim-bench-record, this file built with BENCH_RECORD and linked with
 * -Wl,--wrap around the queue's entry points, so that vcpusim-bench itself runs the
 * model exactly as vcpusim does. Targets (issues 2, 7, 15): >= 10 M model events/s
 * for the 16-pCPU bsp host, within 2x of the bare loop; per-event cost at 1024
 * pCPUs within 1.6x of that at 16. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include "sim/rng.h"
#include "sim/scenario.h"
#include "sim/sim.h"
#include "sim/results.h"
#include <dirent.h>

__attribute__((unused)) static double cpu_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

__attribute__((unused)) static void nop(struct sim *s, struct event *e) { (void)s; (void)e; }

/* ---- the recorded queue operations */

enum { OP_SCHEDULE, OP_CANCEL, OP_POP, OP_PEEK };
struct qop {
	uint32_t kind, id;
	int64_t when;           /* schedule: the time; pop: the popped event's time */
};
#define MAX_OPS (1u << 21)  /* 2 M operations (32 MB): about 0.7 M events */

#ifdef BENCH_RECORD
static struct qop *rec;
static size_t nrec;
static struct event **ids;     /* open addressing: event pointer -> id */
static uint32_t *idv;
static size_t idcap = 1u << 20, nids;

static uint32_t id_of(const struct event *e)
{
	size_t h = ((uintptr_t)e >> 3) * 11400714819323198485ull % idcap;
	while (ids[h] && ids[h] != e)
		h = (h + 1) % idcap;
	if (!ids[h]) {
		ids[h] = (struct event *)e;
		idv[h] = (uint32_t)nids++;
	}
	return idv[h];
}

static void record(uint32_t kind, const struct event *e, int64_t when)
{
	if (nrec < MAX_OPS && nids < idcap / 2)
		rec[nrec++] = (struct qop){ kind, e ? id_of(e) : 0, when };
}

void __real_evq_schedule(struct eventq *q, struct event *e, simtime_t when);
void __real_evq_cancel(struct eventq *q, struct event *e);
struct event *__real_evq_pop(struct eventq *q);
simtime_t __real_evq_next_time(struct eventq *q);
void __wrap_evq_schedule(struct eventq *q, struct event *e, simtime_t when);
void __wrap_evq_cancel(struct eventq *q, struct event *e);
struct event *__wrap_evq_pop(struct eventq *q);
simtime_t __wrap_evq_next_time(struct eventq *q);
struct event *__real_evq_pop_until(struct eventq *q, simtime_t until);
struct event *__wrap_evq_pop_until(struct eventq *q, simtime_t until);

void __wrap_evq_schedule(struct eventq *q, struct event *e, simtime_t when)
{
	record(OP_SCHEDULE, e, when);
	__real_evq_schedule(q, e, when);
}

void __wrap_evq_cancel(struct eventq *q, struct event *e)
{
	record(OP_CANCEL, e, 0);
	__real_evq_cancel(q, e);
}

struct event *__wrap_evq_pop(struct eventq *q)
{
	struct event *e = __real_evq_pop(q);
	if (e)
		record(OP_POP, e, e->when);
	return e;
}

simtime_t __wrap_evq_next_time(struct eventq *q)
{
	record(OP_PEEK, NULL, 0);
	return __real_evq_next_time(q);
}

/* The main loop's evq_pop_until is recorded as the peek and the pop it replaced
 * (sim/sim.c): so the MAX_OPS operations recorded cover the same events as
 * before, and the bare loop's delays and the replay stay what they were
 * (docs/performance.md). The replay's peeks, which the model no longer makes,
 * cost little: the pop right after finds the queue settled. */
struct event *__wrap_evq_pop_until(struct eventq *q, simtime_t until)
{
	record(OP_PEEK, NULL, 0);
	struct event *e = __real_evq_pop_until(q, until);
	if (e)
		record(OP_POP, e, e->when);
	return e;
}

/* vcpusim-bench-record SCENARIO.json OUT: the first MAX_OPS queue operations of
 * the scenario's run, raw, to OUT. */
int main(int argc, char **argv)
{
	if (argc != 3)
		return 2;
	rec = malloc(MAX_OPS * sizeof *rec);
	ids = calloc(idcap, sizeof *ids);
	idv = calloc(idcap, sizeof *idv);
	struct jp jp;
	jp_init(&jp, argv[1]);
	struct scenario *sc = scenario_load(&jp, argv[1], NULL, 0);
	if (!rec || !ids || !idv || !sc) {
		fprintf(stderr, "%s\n", sc ? "out of memory" : jp.msg);
		return 1;
	}
	struct sim *s = sim_create(sc);
	sim_run(s);
	FILE *f = fopen(argv[2], "wb");
	if (!f || fwrite(rec, sizeof *rec, nrec, f) != nrec || fclose(f)) {
		perror(argv[2]);
		return 1;
	}
	sim_destroy(s);
	scenario_free(sc);
	return 0;
}
#else

struct oplog {
	struct qop *op;
	size_t n;
	uint32_t nevents;
	simtime_t *delay;       /* the model's re-arm delays, in order */
	size_t ndelay;
};

/* Runs vcpusim-bench-record (next to this binary) on the scenario json. */
static int record_ops(const char *self, const char *json, struct oplog *lg)
{
	memset(lg, 0, sizeof *lg);
	char scen[] = "/tmp/vcpusim-bench-XXXXXX", ops[64], exe[4096];
	int fd = mkstemp(scen);
	if (fd < 0 || write(fd, json, strlen(json)) != (ssize_t)strlen(json) || close(fd))
		return -1;
	snprintf(ops, sizeof ops, "%s.ops", scen);
	snprintf(exe, sizeof exe, "%s-record", self);
	pid_t pid = fork();
	if (pid == 0) {
		execl(exe, exe, scen, ops, (char *)NULL);
		_exit(127);
	}
	int st = 0;
	waitpid(pid, &st, 0);
	unlink(scen);
	FILE *f = fopen(ops, "rb");
	unlink(ops);
	if (!f || !WIFEXITED(st) || WEXITSTATUS(st)) {
		if (f)
			fclose(f);
		return -1;
	}
	lg->op = malloc(MAX_OPS * sizeof *lg->op);
	lg->delay = malloc(MAX_OPS * sizeof *lg->delay);
	if (!lg->op || !lg->delay) {
		fclose(f);
		return -1;
	}
	lg->n = fread(lg->op, sizeof *lg->op, MAX_OPS, f);
	fclose(f);
	simtime_t now = 0;
	for (size_t i = 0; i < lg->n; i++) {
		const struct qop *o = &lg->op[i];
		if (o->id + 1 > lg->nevents)
			lg->nevents = o->id + 1;
		if (o->kind == OP_POP)
			now = o->when;
		else if (o->kind == OP_SCHEDULE)
			lg->delay[lg->ndelay++] = o->when - now;
	}
	return 0;
}

static void oplog_free(struct oplog *lg)
{
	free(lg->op);
	free(lg->delay);
}

/* CPU ns per popped event replaying the model's queue operations. */
static double replay_ns(const struct oplog *lg)
{
	struct eventq q;
	struct event *ev = calloc(lg->nevents + 1, sizeof *ev);
	evq_init(&q);
	for (uint32_t i = 0; i < lg->nevents; i++)
		event_init(&ev[i], nop, NULL, 0);
	long pops = 0;
	double t0 = cpu_now();
	for (size_t i = 0; i < lg->n; i++) {
		const struct qop *o = &lg->op[i];
		switch (o->kind) {
		case OP_SCHEDULE:
			evq_schedule(&q, &ev[o->id], o->when);
			break;
		case OP_CANCEL:
			evq_cancel(&q, &ev[o->id]);
			break;
		case OP_POP:
			evq_pop(&q);
			pops++;
			break;
		default:
			evq_next_time(&q);
		}
	}
	double dt = cpu_now() - t0;
	evq_free(&q);
	free(ev);
	return pops ? dt * 1e9 / (double)pops : 0;
}

/* CPU ns per event of a bare loop: pop the earliest of `pending` events and re-arm
 * it after the model's next recorded delay, n times. */
static double bare_ns(size_t pending, const struct oplog *lg, long n)
{
	struct eventq q;
	struct event *ev = calloc(pending, sizeof *ev);
	evq_init(&q);
	size_t nd = lg->ndelay ? lg->ndelay : 1, k = 0;
	for (size_t i = 0; i < pending; i++) {
		event_init(&ev[i], nop, NULL, 0);
		evq_schedule(&q, &ev[i], lg->ndelay ? lg->delay[k++ % nd] : 1000);
	}
	double t0 = cpu_now();
	for (long i = 0; i < n; i++) {
		struct event *e = evq_pop(&q);
		e->fire(NULL, e);
		evq_schedule(&q, e, e->when + (lg->ndelay ? lg->delay[k++ % nd] : 1000));
	}
	double dt = cpu_now() - t0;
	evq_free(&q);
	free(ev);
	return dt * 1e9 / (double)n;
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
	double t0 = cpu_now();
	sim_run(s);
	double dt = cpu_now() - t0;
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

static int cmp_d(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

static const char *bench_self;

enum { REPS = 5 };

/* One scenario: REPS interleaved repetitions of the model, the bare loop and the
 * replay; min and median ns per event of each, and the ratios of the minima. */
static long peak_rss_kb(void);
static long model_peak_kb;     /* after the first model run, before the log is loaded */

static void print_row(const char *name, const char *json)
{
	run_model(json); /* also warms the caches and the allocator */
	model_peak_kb = peak_rss_kb();
	struct oplog lg;
	int have_log = record_ops(bench_self, json, &lg) == 0;
	double m[REPS], b[REPS], rp[REPS];
	struct result r = { 0 };
	for (int i = 0; i < REPS; i++) {
		r = run_model(json);
		m[i] = 1e9 / r.events_per_s;
		size_t pending = r.avg_pending < 8 ? 8 : (size_t)r.avg_pending;
		b[i] = have_log ? bare_ns(pending, &lg, 2000000) : 0;
		rp[i] = have_log ? replay_ns(&lg) : 0;
	}
	qsort(m, REPS, sizeof *m, cmp_d);
	qsort(b, REPS, sizeof *b, cmp_d);
	qsort(rp, REPS, sizeof *rp, cmp_d);
	printf("%-40s %11llu %7.2f %6.1f %6.1f %6.1f %6.1f %6.1f %6.1f %6.2f %6.2f %8.1f\n", name,
	       r.events, 1e3 / m[0], m[0], m[REPS / 2], b[0], b[REPS / 2], rp[0], rp[REPS / 2],
	       b[0] > 0 ? m[0] / b[0] : 0, rp[0] > 0 ? m[0] / rp[0] : 0, r.sim_per_wall);
	fflush(stdout);
	if (have_log)
		oplog_free(&lg);
}

static void print_head(void)
{
	printf("%-40s %11s %7s %6s %6s %6s %6s %6s %6s %6s %6s %8s\n", "scenario", "events",
	       "Mev/s", "ns/ev", "med", "bare", "med", "replay", "med", "/bare", "/repl", "sim/cpu");
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
	bench_self = argv[0];
	if (argc == 3 && !strcmp(argv[1], "runs"))
		return bench_runs(argv[2]);
	/* `vcpusim-bench case N`: one scaling case in this process (for its peak memory) */
	if (argc == 3 && !strcmp(argv[1], "case")) {
		int p = atoi(argv[2]);
		char name[64], *j = scaling_json(p, p >= 1024 ? 1000 : 2000);
		snprintf(name, sizeof name, "%d pCPUs, %d vCPUs", p, 4 * p);
		print_head();
		print_row(name, j);
		free(j);
		printf("  peak memory %.1f MB (the model's, before the bench's own buffers)\n",
		       (double)model_peak_kb / 1024);
		return 0;
	}
	/* `vcpusim-bench 16`: only the 16-pCPU benchmark row (issue 15's 2x target),
	 * for alternating two builds quickly */
	int only16 = argc == 2 && !strcmp(argv[1], "16");
	printf("CPU time of this thread, min and median of %d interleaved repetitions; ns per "
	       "event of the model, of a bare loop\nwith the model's re-arm delays, and of the "
	       "replay of the model's queue operations; ratios of the minima\n\n", REPS);
	print_head();
	print_row("16 pCPUs, 8 VMs x 4 vCPUs bsp (issue 2)",
		  "{\"name\":\"bench16\",\"stop\":{\"max_ms\":20000},\"host\":{\"pcpus\":16},"
		  "\"vms\":[{\"name\":\"bsp\",\"count\":8,\"vcpus\":4,\"workload\":{\"kind\":\"bsp\","
		  "\"iterations\":1000000,\"grain_us\":200,\"locks_per_phase\":2,\"cs_ns\":500}}]}");
	if (only16)
		return 0;
	print_row("4 pCPUs, built-in scenario", scenario_builtin_default);
	printf("\nscaling: P pCPUs, P/2 bsp VMs + P/4 hog VMs of 4 vCPUs, P io VMs (4P vCPUs), each "
	       "in its own process\n");
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
#endif
