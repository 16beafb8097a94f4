/* bsp.c: a parametric bulk-synchronous parallel program: `iterations` phases, each
 * a compute of `grain_us` per thread (spread by `imbalance`), optionally with
 * `locks_per_phase` spinlock critical sections of `cs_ns` on `nlocks` shared locks
 * interleaved with the compute, then `tlb_shootdowns_per_phase` TLB shootdowns
 * (the guest kernel's, as a munmap of a per-phase buffer does; models/guest.c),
 * then a barrier of all the VM's threads. This is
 * the shape of an OpenMP loop nest (model.md, "Workloads"); the NPB presets are
 * calibrated instances of the same shape.
 *
 * Imbalance: each thread's phase compute is grain x (1 + imbalance x u), u uniform
 * in [-1, 1), drawn from the thread's own random stream. */
#include <stdlib.h>
#include "workloads/workload.h"
#include "workloads/bsp.h"
#include "sim/rng.h"

/* the parameters (struct bsp_params) and per-thread state are in bsp.h, for the
 * inline rule; a pointer to the kind's params is one to its one member */
struct workload_params {
	struct bsp_params b;   /* the first member: bsp_params_of */
};

static const char *const keys[] = { "kind", "iterations", "grain_us", "imbalance",
				    "locks_per_phase", "nlocks", "cs_ns", "barrier",
				    "tlb_shootdowns_per_phase", NULL };

static struct workload_params *parse(struct jp *jp, const cJSON *w, const char *path, int vcpus)
{
	struct workload_params *wp = calloc(1, sizeof *wp);
	struct bsp_params *p = &wp->b;
	jp_only_keys(jp, w, path, keys);
	p->iterations = jp_int(jp, w, path, "iterations", 100, 1, 1000000000);
	p->grain_ns = (simtime_t)(jp_num(jp, w, path, "grain_us", 1000, 0, 1e9) * NS_PER_US);
	p->imbalance = jp_num(jp, w, path, "imbalance", 0.1, 0, 1);
	p->locks_per_phase = (int)jp_int(jp, w, path, "locks_per_phase", 0, 0, 100000);
	p->nlocks = (int)jp_int(jp, w, path, "nlocks", 1, 1, 4096);
	p->cs_ns = jp_int(jp, w, path, "cs_ns", 500, 0, NS_PER_SEC);
	p->barrier = jp_bool(jp, w, path, "barrier", 1);
	p->tlb_per_phase = (int)jp_int(jp, w, path, "tlb_shootdowns_per_phase", 0, 0, 100000);
	return wp;
}

static int locks(const struct workload_params *p) { return p->b.nlocks; }
static int finite(const struct workload_params *p) { return 1; }

static void *start(const struct workload_params *p, int threads)
{
	struct bsp_state *s = calloc(1, sizeof *s + (size_t)threads * sizeof s->t[0]);
	if (s)
		s->threads = threads;
	return s;
}

static void stop(void *state)
{
	free(state);
}

/* Phase layout for k = locks_per_phase and m = tlb_shootdowns_per_phase: steps
 * 0..2k are compute (even) and lock (odd) alternating, steps 2k+1..2k+m are TLB
 * shootdowns, then the barrier. bsp_next_op_phase is the whole rule;
 * bsp_next_op (bsp.h) takes the common steps on its own and hands the others to
 * it: the same ops in the same order, with the same draws. */
void bsp_next_op_phase(struct bsp_thread_pos *tp, const struct bsp_params *p, gsl_rng *rng,
		       struct op *out)
{
	int k = p->locks_per_phase;
	for (;;) {
		if (tp->iter >= p->iterations) {
			out->kind = OP_END;
			return;
		}
		if (tp->step == 0) {
			double u = 2.0 * rng_uniform(rng) - 1.0;
			simtime_t phase = (simtime_t)((double)p->grain_ns * (1.0 + p->imbalance * u));
			tp->chunk = phase / (k + 1);
		}
		int step = tp->step;
		if (step <= 2 * k) {
			tp->step++;
			if (step % 2 == 0) {
				out->kind = OP_COMPUTE;
				out->ns = tp->chunk;
			} else {
				out->kind = OP_LOCK;
				out->lock = p->nlocks > 1
					? (int)gsl_rng_uniform_int(rng, (unsigned long)p->nlocks) : 0;
				out->cs_ns = p->cs_ns;
			}
			return;
		}
		if (step <= 2 * k + p->tlb_per_phase) {
			tp->step++;
			out->kind = OP_TLB_SHOOTDOWN;
			return;
		}
		tp->step = 0;
		tp->iter++;
		if (p->barrier) {
			out->kind = OP_BARRIER;
			return;
		}
	}
}

static void next_op(void *state, const struct workload_params *p, int t, gsl_rng *rng,
		    struct op *out)
{
	bsp_next_op(state, bsp_params_of(p), t, rng, out);
}

const struct workload_kind workload_bsp = {
	.name = "bsp",
	.summary = "iterations of compute phases (grain, imbalance) with spinlock sections, separated by barriers",
	.parse = parse,
	.free_params = (void (*)(struct workload_params *))free,
	.locks = locks,
	.finite = finite,
	.start = start,
	.stop = stop,
	.next_op = next_op,
};

void bsp_describe(const struct workload_params *wp, struct bsp_desc *d)
{
	const struct bsp_params *p = &wp->b;
	d->iterations = p->iterations;
	d->grain_ns = p->grain_ns;
	d->imbalance = p->imbalance;
	d->locks_per_phase = p->locks_per_phase;
	d->tlb_per_phase = p->tlb_per_phase;
	d->nlocks = p->nlocks;
	d->cs_ns = p->cs_ns;
	d->barrier = p->barrier;
}
