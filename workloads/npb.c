/* npb.c: NPB-like OpenMP kernels (EP, IS, FT, BT, LU, SP, MG, CG, UA; classes S, W,
 * A, B, C) calibrated to docs/npb-calibration.md (NPB 3.4-OMP, class A,
 * one thread, libgomp calls counted). docs/workloads.md has the table of presets,
 * their parameters and the measured figures each reproduces.
 *
 * Shape. A run is a sequence of sync intervals, each ended by a barrier of all the
 * VM's threads (libgomp: spin, then futex; models/guest.c):
 *   setup_syncs intervals, then iterations x syncs_per_iter intervals.
 * In the profile, "sync points" = 2 x parallel regions + explicit barriers - 1
 * (every region is a fork, where the pool threads leave libgomp's dock barrier,
 * and a join, its implicit barrier; the first fork creates the threads), e.g. BT
 * 2 x 1,012 + 210 - 1 = 2,233. Fork, join and explicit barriers are all team
 * barriers in libgomp, so each sync point is one OP_BARRIER. Work between two of
 * them is parallel: each thread computes interval / P (P = the VM's vCPUs), times
 * (1 + imbalance x u), u uniform in [-1, 1) drawn per thread per interval.
 * The master's serial code between a join and the next fork is not separated
 * out (the profile does not measure it; it says per-thread interval = interval/P).
 *
 * Calibration (class A, measured): interval = serial run / sync points (so the
 * simulated serial work is the measured serial run); syncs_per_iter =
 * floor(sync points / iterations), the remainder are setup_syncs (initialisation
 * and the first touch regions outside the time-step loop).
 *
 * Other classes. B and C follow the profile's estimates: sync counts scale with the
 * iterations (CG, MG x5, FT x3.3, others equal), the interval grows with the grid
 * (x4 and x16 for BT, SP, LU); for the other kernels the interval scales with the
 * problem size of NPB 3.4's setparams (IS keys, FT grid points, CG non-zeros
 * na x (nonzer+1)^2, MG grid points, EP pairs, UA elements lelt). S and W are
 * derived the same way from setparams (iterations and problem sizes); MG's syncs
 * per iteration also scale with its number of levels (5 for S, 7 for W, 8 for A).
 * These are estimates, not measurements (docs/workloads.md).
 *
 * LU's pipeline (profile: "sync_left/sync_right busy-wait on a shared counter:
 * 2 x (nz - 2) hand-offs per iteration"). Two intervals of each iteration are the
 * lower (blts) and upper (buts) triangular sweeps; `handoffs` per iteration are
 * split between them as k-planes. In a sweep, thread t for each plane: waits until
 * its upstream neighbour has posted that plane and marks it consumed (sync_left),
 * computes its share of the plane, then waits until its downstream neighbour has
 * consumed its previous plane and posts this one (sync_right: the one-slot flag of
 * the source, so a preempted neighbour stalls the pipeline both ways). Upstream is
 * t-1 in the lower sweep, t+1 in the upper. The waits are OP_WAIT spin-waits on
 * per-VM counters (never a futex). pipeline_share of the iteration's work is in the
 * sweeps (0.6: jacld+blts+jacu+buts, an estimate), the rest in the other intervals.
 *
 * UA's locks (profile: 842.5 million omp_set_lock calls, one every ~18 ns of serial
 * work, on tlock(mortar point): lmor = 92,700 locks in class A). Aggregated: one
 * OP_LOCK stands for lock_batch real acquisitions, holding one lock (uniform among
 * nlocks) for lock_batch x lock_hold_ns. The number of acquisitions in a compute
 * chunk of c us of serial work is c x lock_rate, with the fraction carried over
 * to the thread's next chunk, so the run's total is exact (results:
 * spin.lock_calls). Preserved: the call count, the fraction of CPU time inside
 * critical sections (lock_rate x lock_hold_ns, the exposure to lock-holder
 * preemption), and to first order the contention spin time (a collision is N times
 * rarer and N times longer). Not preserved: the distribution of individual waits
 * (fewer, longer). With thousands of locks contention between running threads is
 * negligible, as in UA; a preempted holder still stalls whoever needs its lock.
 * Critical sections are part of the interval's work. omp_set_lock is libgomp's
 * user-space mutex (config/linux/mutex.h): not FIFO, it spins and then sleeps on a
 * futex. The nearest guest lock is "tas" (not FIFO, so no lock-waiter preemption),
 * UA's default lock_kind; it does not model the futex sleep after GOMP_SPINCOUNT
 * (a waiter behind a preempted holder spins until the holder runs again).
 * "lock_kind": "guest" uses the scenario's guest.spinlock. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "workloads/workload.h"
#include "models/guest.h"

enum { K_EP, K_IS, K_FT, K_BT, K_LU, K_SP, K_MG, K_CG, K_UA, NKERNELS };
enum { C_S, C_W, C_A, C_B, C_C, NCLASSES };
static const char *const kernel_names[] = { "ep", "is", "ft", "bt", "lu", "sp", "mg", "cg", "ua", NULL };
static const char *const class_names[] = { "S", "W", "A", "B", "C", NULL };

/* The measured class A rows of the profile and the scaling to other classes. */
struct kernel_def {
	double serial_s;            /* profile: serial run (s), class A */
	int regions, barriers;      /* profile: parallel regions, explicit barriers */
	int syncs;                  /* profile: sync points */
	int iters[NCLASSES];        /* setparams niter (S, W); profile (A, B, C) */
	double size[NCLASSES];      /* work per sync interval relative to class A */
	double per_iter_scale[NCLASSES];  /* syncs per iteration relative to A (MG) */
	double imbalance;           /* assumed: not in the profile */
	int handoffs[NCLASSES];     /* LU: 2 x (nz - 2) per iteration */
};

#define ALL5(x) { x, x, x, x, x }
static const struct kernel_def kdefs[NKERNELS] = {
	/* EP row: 3.49 s, 3 regions, 0 barriers, 5 sync points; m = 24, 25, 28, 30, 32 */
	[K_EP] = { 3.49, 3, 0, 5, ALL5(1), { 1.0 / 16, 1.0 / 8, 1, 4, 16 }, ALL5(1), 0.01, ALL5(0) },
	/* IS row: 1.03 s, 15, 22, 51; 10 iterations; 2^16, 2^20, 2^23, 2^25, 2^27 keys */
	[K_IS] = { 1.03, 15, 22, 51, ALL5(10), { 1.0 / 128, 1.0 / 8, 1, 4, 16 }, ALL5(1), 0.05, ALL5(0) },
	/* FT row: 1.78 s, 42, 0, 83; 6/6/6/20/20 iterations; grid 64^3, 128x128x32,
	 * 256x256x128, 512x256x256, 512^3 */
	[K_FT] = { 1.78, 42, 0, 83, { 6, 6, 6, 20, 20 }, { 1.0 / 32, 1.0 / 16, 1, 4, 16 }, ALL5(1), 0.02, ALL5(0) },
	/* BT row: 56.7 s, 1,012, 210, 2,233; 60/200/200/200/200; grid 12, 24, 64, 102, 162 */
	[K_BT] = { 56.7, 1012, 210, 2233, { 60, 200, 200, 200, 200 },
		   { 0.00659, 0.0527, 1, 4, 16 }, ALL5(1), 0.02, ALL5(0) },
	/* LU row: 16.8 s, 516, 1,778, 2,809; 50/300/250/250/250; grid 12, 33, 64, 102, 162;
	 * hand-offs 2 x (nz - 2) = 20, 62, 124, 200, 320 per iteration */
	[K_LU] = { 16.8, 516, 1778, 2809, { 50, 300, 250, 250, 250 },
		   { 0.00659, 0.137, 1, 4, 16 }, ALL5(1), 0.02, { 20, 62, 124, 200, 320 } },
	/* SP row: 19.1 s, 3,616, 412, 7,643; 100/400/400/400/400; grid 12, 36, 64, 102, 162 */
	[K_SP] = { 19.1, 3616, 412, 7643, { 100, 400, 400, 400, 400 },
		   { 0.00659, 0.178, 1, 4, 16 }, ALL5(1), 0.02, ALL5(0) },
	/* MG row: 1.64 s, 321, 141, 782; 4/4/4/20/20; grid 32^3, 128^3, 256^3, 256^3, 512^3;
	 * levels 5, 7, 8 (S, W, A): syncs per iteration x 5/8, 7/8, work per interval
	 * x grid / (levels / 8) */
	[K_MG] = { 1.64, 321, 141, 782, { 4, 4, 4, 20, 20 },
		   { 1.0 / 512 * 8 / 5, 1.0 / 8 * 8 / 7, 1, 1, 8 }, { 5.0 / 8, 7.0 / 8, 1, 1, 1 },
		   0.05, ALL5(0) },
	/* CG row: 1.33 s, 35, 2,073, 2,142; 15/15/15/75/75; non-zeros na x (nonzer+1)^2:
	 * 1400x64, 7000x81, 14000x144, 75000x196, 150000x256 */
	[K_CG] = { 1.33, 35, 2073, 2142, { 15, 15, 15, 75, 75 },
		   { 0.0444, 0.281, 1, 7.29, 19.05 }, ALL5(1), 0.05, ALL5(0) },
	/* UA row: 15.4 s, 36,508, 2,975, 75,990; 50/100/200/200/200; lelt 250, 700, 2400,
	 * 8800, 33500 */
	[K_UA] = { 15.4, 36508, 2975, 75990, { 50, 100, 200, 200, 200 },
		   { 250.0 / 2400, 700.0 / 2400, 1, 8800.0 / 2400, 33500.0 / 2400 }, ALL5(1), 0.05,
		   ALL5(0) },
};

/* UA's locks (profile, "Structure"): 842.5e6 calls in a 15.4 s serial run. */
#define UA_LOCK_CALLS 842.5e6
#define UA_LOCK_HOLD_NS 4.0   /* assumed: CAS to release around one update */
#define UA_LOCK_BATCH 256
#define UA_NLOCKS 4096        /* tlock has lmor >= 11,600 entries: any large count */
#define EP_SETUP_NS 100e3     /* assumed: EP's set-up regions, serial ns each */
#define LU_PIPELINE_SHARE 0.6 /* assumed: jacld+blts+jacu+buts share of LU's work */

struct workload_params {
	int kernel, cls;
	int64_t iterations, per_iter, setup;
	double interval_ns;     /* serial work per sync interval */
	double setup_ns;        /* serial work per setup interval */
	double imbalance;
	int64_t handoffs;       /* per iteration, split over two sweeps */
	double pipeline_share;
	double lock_rate;       /* acquisitions per us of serial work */
	double lock_hold_ns;
	int lock_batch, nlocks;
	int lock_kind;          /* enum lock_kind, or -1: the guest's */
};

/* A thread's program is produced lazily, a step at a time (an interval, or one
 * plane of a sweep), so memory stays bounded whatever the parameters. A step is a
 * few items; a work item expands into compute pieces and aggregated locks. */
struct item {
	int is_work;
	double work_ns;         /* is_work: this thread's work, before locks */
	struct op op;           /* otherwise */
};

#define MAX_ITEMS 8

struct tstate {
	int64_t j;              /* next sync interval */
	int64_t plane, nplanes; /* within a sweep: next plane (1-based), planes */
	int dir;                /* sweep direction: 0 lower, 1 upper */
	double plane_ns;        /* a sweep's serial work per plane */
	struct item q[MAX_ITEMS];
	int qn, qi;
	/* the work item being expanded: pieces of piece_ns with locks between */
	int64_t locks_left;
	int in_work, next_is_lock;
	simtime_t piece_ns, hold_ns;
	double lock_carry;      /* fractional acquisitions carried over */
	int64_t planes[2];      /* planes done in lower / upper sweeps */
};

struct npb_state {
	int threads;
	struct tstate *t;
};

static const char *const keys[] = { "kind", "kernel", "class", "iterations", "syncs_per_iter",
				    "setup_syncs", "setup_interval_us", "interval_us", "imbalance",
				    "handoffs", "pipeline_share", "lock_rate", "lock_hold_ns",
				    "lock_batch", "nlocks", "lock_kind", NULL };
/* "guest", then lock_kind_names in enum lock_kind order */
static const char *const kind_names[] = { "guest", "ticket", "tas", "pvticket", "pmtlock",
					  "qspinlock", "pvqspinlock", NULL };
_Static_assert(LOCK_TICKET == 0 && LOCK_TAS == 1 && LOCK_PVTICKET == 2 && LOCK_PMT == 3 &&
	       LOCK_QSPIN == 4 && LOCK_PVQSPIN == 5 && LOCK_KINDS == 6,
	       "kind_names follows enum lock_kind");

static struct workload_params *parse(struct jp *jp, const cJSON *w, const char *path, int vcpus)
{
	struct workload_params *p = calloc(1, sizeof *p);
	char kp[JP_PATH_MAX];
	jp_only_keys(jp, w, path, keys);
	p->kernel = jp_enum(jp, w, path, "kernel", kernel_names, -1);
	p->cls = jp_enum(jp, w, path, "class", class_names, C_A);
	if (jp->failed)
		return p;
	if (p->kernel < 0) {
		jp_join(kp, path, "kernel");
		jp_fail(jp, kp, "missing: expected one of ep, is, ft, bt, lu, sp, mg, cg, ua");
		return p;
	}
	const struct kernel_def *k = &kdefs[p->kernel];
	int c = p->cls;
	int iters_a = k->iters[C_A];
	int per_iter_a = k->syncs / iters_a;
	int setup_a = k->syncs - per_iter_a * iters_a;
	double interval_a = k->serial_s * 1e9 / k->syncs, setup_a_ns = interval_a;
	if (p->kernel == K_EP) {
		/* profile: interval "about the whole run": the main region (one interval)
		 * holds the work; the 4 other intervals are short set-up regions */
		per_iter_a = 1;
		setup_a = k->syncs - 1;
		setup_a_ns = EP_SETUP_NS;
		interval_a = k->serial_s * 1e9 - setup_a * setup_a_ns;
	}
	int64_t def_per_iter = (int64_t)floor(per_iter_a * k->per_iter_scale[c] + 0.5);
	double def_lock_rate = p->kernel == K_UA ? UA_LOCK_CALLS / (k->serial_s * 1e6) : 0;

	p->iterations = jp_int(jp, w, path, "iterations", k->iters[c], 0, 100000000);
	p->per_iter = jp_int(jp, w, path, "syncs_per_iter", def_per_iter, 1, 100000000);
	p->setup = jp_int(jp, w, path, "setup_syncs", setup_a, 0, 100000000);
	p->interval_ns = jp_num(jp, w, path, "interval_us", interval_a * k->size[c] / 1e3, 0, 1e10) * 1e3;
	p->setup_ns = jp_num(jp, w, path, "setup_interval_us", setup_a_ns * k->size[c] / 1e3, 0, 1e10) * 1e3;
	p->imbalance = jp_num(jp, w, path, "imbalance", k->imbalance, 0, 1);
	p->handoffs = jp_int(jp, w, path, "handoffs", k->handoffs[c], 0, 100000000);
	p->pipeline_share = jp_num(jp, w, path, "pipeline_share", LU_PIPELINE_SHARE, 0, 1);
	p->lock_rate = jp_num(jp, w, path, "lock_rate", def_lock_rate, 0, 1e4);
	p->lock_hold_ns = jp_num(jp, w, path, "lock_hold_ns", UA_LOCK_HOLD_NS, 0, 1e9);
	p->lock_batch = (int)jp_int(jp, w, path, "lock_batch", UA_LOCK_BATCH, 1, 1000000000);
	p->nlocks = (int)jp_int(jp, w, path, "nlocks", UA_NLOCKS, 1, 1 << 16);
	p->lock_kind = jp_enum(jp, w, path, "lock_kind", kind_names, 1 + LOCK_TAS) - 1;
	if (jp->failed)
		return p;
	if (p->handoffs > 0 && p->per_iter < 2) {
		jp_join(kp, path, "handoffs");
		jp_fail(jp, kp, "a pipeline needs syncs_per_iter >= 2 (its two sweeps end in barriers), got %lld",
			(long long)p->per_iter);
	} else if (p->lock_rate * p->lock_hold_ns >= 1000) {
		jp_join(kp, path, "lock_rate");
		jp_fail(jp, kp, "lock_rate x lock_hold_ns = %g ns of critical section per us of work: expected < 1000",
			p->lock_rate * p->lock_hold_ns);
	} else if (p->iterations * p->per_iter + p->setup < 1) {
		jp_join(kp, path, "iterations");
		jp_fail(jp, kp, "the run has no sync interval: expected iterations >= 1 or setup_syncs >= 1");
	}
	return p;
}

static int locks(const struct workload_params *p) { return p->lock_rate > 0 ? p->nlocks : 0; }
static int finite(const struct workload_params *p) { return 1; }
static int lock_kind(const struct workload_params *p) { return p->lock_kind; }
static int flags(const struct workload_params *p, int threads)
{
	return p->handoffs > 0 ? 4 * threads : 0;
}

static void *start(const struct workload_params *p, int threads)
{
	struct npb_state *s = calloc(1, sizeof *s);
	if (s)
		s->t = calloc((size_t)threads, sizeof *s->t);
	if (!s || !s->t) {
		fprintf(stderr, "vcpusim: out of memory\n");
		exit(1);
	}
	s->threads = threads;
	return s;
}

static void stop(void *state)
{
	struct npb_state *s = state;
	free(s->t);
	free(s);
}

static struct op *push(struct tstate *ts, enum op_kind kind)
{
	struct item *it = &ts->q[ts->qn++];
	memset(it, 0, sizeof *it);
	it->op.kind = kind;
	return &it->op;
}

static void push_work(struct tstate *ts, double ns)
{
	struct item *it = &ts->q[ts->qn++];
	memset(it, 0, sizeof *it);
	it->is_work = 1;
	it->work_ns = ns;
}

static simtime_t ns_round(double ns) { return ns > 0 ? (simtime_t)(ns + 0.5) : 0; }

/* Starts expanding c ns of this thread's work with its share of aggregated lock
 * acquisitions: pieces of compute with nb critical sections between them. */
static void start_work(const struct workload_params *p, struct tstate *ts, double c)
{
	double nb = 0, hold = 0;
	if (p->lock_rate > 0) {
		double a = c / 1e3 * p->lock_rate + ts->lock_carry;
		nb = floor(a / p->lock_batch);
		ts->lock_carry = a - nb * p->lock_batch;
		hold = p->lock_batch * p->lock_hold_ns;
		c -= nb * hold;   /* critical sections are part of the work */
	}
	ts->in_work = 1;
	ts->next_is_lock = 0;
	ts->locks_left = (int64_t)nb;
	ts->piece_ns = ns_round(c / (nb + 1));
	ts->hold_ns = ns_round(hold);
}

/* The next op of the work being expanded. */
static void work_op(const struct workload_params *p, struct tstate *ts, gsl_rng *rng, struct op *out)
{
	memset(out, 0, sizeof *out);
	if (ts->next_is_lock) {
		ts->next_is_lock = 0;
		ts->locks_left--;
		out->kind = OP_LOCK;
		out->lock = p->nlocks > 1 ? (int)gsl_rng_uniform_int(rng, (unsigned long)p->nlocks) : 0;
		out->cs_ns = ts->hold_ns;
		out->batch = p->lock_batch;
		return;
	}
	out->kind = OP_COMPUTE;
	out->ns = ts->piece_ns;
	if (ts->locks_left > 0)
		ts->next_is_lock = 1;
	else
		ts->in_work = 0;
}

static double imbalanced(const struct workload_params *p, gsl_rng *rng, double ns)
{
	if (p->imbalance <= 0)
		return ns;
	return ns * (1.0 + p->imbalance * (2.0 * gsl_rng_uniform(rng) - 1.0));
}

/* Plane ts->plane of the current sweep (dir 0: lower, upstream t-1; dir 1: upper,
 * upstream t+1); the barrier after the last plane. */
static void plane_step(const struct workload_params *p, struct tstate *ts, int t, int threads,
		       gsl_rng *rng)
{
	int up = ts->dir == 0 ? t - 1 : t + 1, down = ts->dir == 0 ? t + 1 : t - 1;
	int post = 2 * ts->dir * threads, cons = post + threads;   /* flag bases */
	int64_t g = ts->planes[ts->dir] + ts->plane;
	if (up >= 0 && up < threads) {   /* sync_left */
		struct op *o = push(ts, OP_WAIT);
		o->flag = post + up;
		o->value = g;
		push(ts, OP_SIGNAL)->flag = cons + up;
	}
	push_work(ts, imbalanced(p, rng, ts->plane_ns / threads));
	if (down >= 0 && down < threads) {   /* sync_right */
		struct op *o = push(ts, OP_WAIT);
		o->flag = cons + t;
		o->value = g - 1;
		push(ts, OP_SIGNAL)->flag = post + t;
	}
	if (ts->plane++ == ts->nplanes) {
		ts->planes[ts->dir] += ts->nplanes;
		ts->nplanes = 0;
		push(ts, OP_BARRIER);
	}
}

/* Fills the thread's queue with its next step. */
static void generate(const struct workload_params *p, struct npb_state *s, int t, gsl_rng *rng)
{
	struct tstate *ts = &s->t[t];
	int64_t total = p->setup + p->iterations * p->per_iter;
	ts->qn = ts->qi = 0;
	if (ts->nplanes > 0) {
		plane_step(p, ts, t, s->threads, rng);
		return;
	}
	if (ts->j >= total) {
		push(ts, OP_END);
		return;
	}
	int64_t j = ts->j++;
	int64_t k = j < p->setup ? -1 : (j - p->setup) % p->per_iter;
	double iter_work = p->interval_ns * (double)p->per_iter;
	/* with only the two sweeps in an iteration, all its work is in them */
	double share = p->per_iter > 2 ? p->pipeline_share : 1.0;
	if (p->handoffs > 0 && (k == 0 || k == 1)) {
		int64_t lo = (p->handoffs + 1) / 2, n = k == 0 ? lo : p->handoffs - lo;
		if (n > 0) {
			ts->dir = (int)k;
			ts->nplanes = n;
			ts->plane = 1;
			ts->plane_ns = iter_work * share / (double)p->handoffs;
			plane_step(p, ts, t, s->threads, rng);
		} else {
			push(ts, OP_BARRIER);
		}
		return;
	}
	double w = k < 0 ? p->setup_ns : p->interval_ns;
	if (p->handoffs > 0 && k >= 0)
		w = iter_work * (1 - share) / (double)(p->per_iter - 2);
	push_work(ts, imbalanced(p, rng, w / s->threads));
	push(ts, OP_BARRIER);
}

static void next_op(void *state, const struct workload_params *p, int t, gsl_rng *rng,
		    struct op *out)
{
	struct npb_state *s = state;
	struct tstate *ts = &s->t[t];
	for (;;) {
		if (ts->in_work) {
			work_op(p, ts, rng, out);
			return;
		}
		if (ts->qi >= ts->qn)
			generate(p, s, t, rng);
		struct item *it = &ts->q[ts->qi++];
		if (!it->is_work) {
			*out = it->op;
			return;
		}
		start_work(p, ts, it->work_ns);
	}
}

const struct workload_kind workload_npb = {
	.name = "npb",
	.summary = "NPB-like OpenMP kernel (kernel ep|is|ft|bt|lu|sp|mg|cg|ua, class S..C), calibrated to the NPB 3.4 sync profile",
	.parse = parse,
	.free_params = (void (*)(struct workload_params *))free,
	.locks = locks,
	.flags = flags,
	.lock_kind = lock_kind,
	.finite = finite,
	.start = start,
	.stop = stop,
	.next_op = next_op,
};
