/* io.c: an I/O-bound, latency-sensitive guest (model.md, "Non-concurrent work"):
 * each thread loops { sleep think_us (waiting for a request), compute service_us
 * (serving it) }. Times are fixed or exponentially distributed ("dist"). The VM's
 * wake-to-run latency percentiles (results: wake_latency_us) and requests served
 * are its figures of merit; `requests` = 0 means endless. */
#include <stdlib.h>
#include <gsl/gsl_randist.h>
#include "workloads/workload.h"

struct workload_params {
	int64_t requests;
	double service_ns, think_ns;
	int exponential;
};

/* One allocation, each thread's counters side by side: an operation's fetch reads
 * one cache line of it, not the state and two arrays (on a large host each a miss). */
struct io_state {
	int threads;
	struct {
		int64_t served;
		int sleeping;
	} t[];
};

static const char *const keys[] = { "kind", "requests", "service_us", "think_us", "dist", NULL };
static const char *const dists[] = { "fixed", "exp", NULL };

static struct workload_params *parse(struct jp *jp, const cJSON *w, const char *path, int vcpus)
{
	struct workload_params *p = calloc(1, sizeof *p);
	jp_only_keys(jp, w, path, keys);
	p->requests = jp_int(jp, w, path, "requests", 0, 0, 1000000000);
	p->service_ns = jp_num(jp, w, path, "service_us", 200, 0, 1e9) * NS_PER_US;
	p->think_ns = jp_num(jp, w, path, "think_us", 10000, 0, 1e9) * NS_PER_US;
	p->exponential = jp_enum(jp, w, path, "dist", dists, 1);
	return p;
}

static int locks(const struct workload_params *p) { return 0; }
static int finite(const struct workload_params *p) { return p->requests > 0; }

static void *start(const struct workload_params *p, int threads)
{
	struct io_state *s = calloc(1, sizeof *s + (size_t)threads * sizeof s->t[0]);
	if (s)
		s->threads = threads;
	return s;
}

static void stop(void *state)
{
	free(state);
}

static void next_op(void *state, const struct workload_params *p, int t, gsl_rng *rng,
		    struct op *out)
{
	struct io_state *s = state;
	out->request = 0;
	if (p->requests > 0 && s->t[t].served >= p->requests) {
		out->kind = OP_END;
		return;
	}
	if (!s->t[t].sleeping) {
		s->t[t].sleeping = 1;
		out->kind = OP_SLEEP;
		out->ns = workload_draw(p->exponential, p->think_ns, rng);
		return;
	}
	s->t[t].sleeping = 0;
	s->t[t].served++;
	out->kind = OP_COMPUTE;
	out->ns = workload_draw(p->exponential, p->service_ns, rng);
	if (out->ns < 1)
		out->ns = 1;   /* a served request always counts */
	out->request = 1;
}

const struct workload_kind workload_io = {
	.name = "io",
	.summary = "sleep/wake loop: think_us asleep, service_us of CPU per request (wake-to-run latency)",
	.parse = parse,
	.free_params = (void (*)(struct workload_params *))free,
	.locks = locks,
	.finite = finite,
	.start = start,
	.stop = stop,
	.next_op = next_op,
};
