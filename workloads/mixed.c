/* mixed.c: a desktop-like, non-concurrent load for a single-vCPU VM (model.md,
 * "Non-concurrent work"): each thread loops { a burst of compute (handling an
 * event: a keystroke, a redraw, a page of a document), then a pause }. Most pauses
 * are short (waiting for the disk, the network, the next event of an animation:
 * sleep_us); with probability think_prob the pause is a user's think time
 * (think_ms). Burst and pause lengths are exponential by default ("dist": "exp")
 * or fixed. Each burst counts as one request served (an interaction), and the
 * wake-to-run latency of each burst (results: wake_latency_us) is what a user
 * feels as responsiveness. With the defaults the load uses about 10% of a CPU in
 * bursts of ~2 ms: little CPU, many wake-ups, which is what Credit's BOOST
 * favours. `bursts` = 0 means endless. With more than one vCPU, every thread runs
 * the same independent loop. */
#include <stdio.h>
#include <stdlib.h>
#include <gsl/gsl_randist.h>
#include "workloads/workload.h"

struct workload_params {
	int64_t bursts;
	double burst_ns, sleep_ns, think_ns, think_prob;
	int exponential;
};

struct mixed_state {
	int64_t *done;
	int *in_burst;
};

static const char *const keys[] = { "kind", "bursts", "burst_us", "sleep_us", "think_ms",
				    "think_prob", "dist", NULL };
static const char *const dists[] = { "fixed", "exp", NULL };

static struct workload_params *parse(struct jp *jp, const cJSON *w, const char *path, int vcpus)
{
	struct workload_params *p = calloc(1, sizeof *p);
	jp_only_keys(jp, w, path, keys);
	p->bursts = jp_int(jp, w, path, "bursts", 0, 0, 1000000000);
	p->burst_ns = jp_num(jp, w, path, "burst_us", 2000, 0, 1e9) * NS_PER_US;
	p->sleep_ns = jp_num(jp, w, path, "sleep_us", 2000, 0, 1e9) * NS_PER_US;
	p->think_ns = jp_num(jp, w, path, "think_ms", 300, 0, 1e7) * NS_PER_MS;
	p->think_prob = jp_num(jp, w, path, "think_prob", 0.05, 0, 1);
	p->exponential = jp_enum(jp, w, path, "dist", dists, 1);
	return p;
}

static int locks(const struct workload_params *p) { return 0; }
static int finite(const struct workload_params *p) { return p->bursts > 0; }

static void *start(const struct workload_params *p, int threads)
{
	struct mixed_state *s = calloc(1, sizeof *s);
	if (s) {
		s->done = calloc((size_t)threads, sizeof *s->done);
		s->in_burst = calloc((size_t)threads, sizeof *s->in_burst);
	}
	if (!s || !s->done || !s->in_burst) {
		fprintf(stderr, "vcpusim: out of memory\n");
		exit(1);
	}
	return s;
}

static void stop(void *state)
{
	struct mixed_state *s = state;
	free(s->done);
	free(s->in_burst);
	free(s);
}

/* Starts with a burst (the VM boots into some work), then pause, burst, ... */
static void next_op(void *state, const struct workload_params *p, int t, gsl_rng *rng,
		    struct op *out)
{
	struct mixed_state *s = state;
	out->request = 0;
	if (s->in_burst[t]) {
		s->in_burst[t] = 0;
		if (p->bursts > 0 && s->done[t] >= p->bursts) {
			out->kind = OP_END;
			return;
		}
		out->kind = OP_SLEEP;
		int think = p->think_prob > 0 && gsl_rng_uniform(rng) < p->think_prob;
		out->ns = workload_draw(p->exponential, think ? p->think_ns : p->sleep_ns, rng);
		return;
	}
	s->in_burst[t] = 1;
	s->done[t]++;
	out->kind = OP_COMPUTE;
	out->ns = workload_draw(p->exponential, p->burst_ns, rng);
	if (out->ns < 1)
		out->ns = 1;   /* a burst always counts */
	out->request = 1;
}

const struct workload_kind workload_mixed = {
	.name = "mixed",
	.summary = "desktop-like single-vCPU load: compute bursts, short sleeps, occasional think times (latency)",
	.parse = parse,
	.free_params = (void (*)(struct workload_params *))free,
	.locks = locks,
	.finite = finite,
	.start = start,
	.stop = stop,
	.next_op = next_op,
};
