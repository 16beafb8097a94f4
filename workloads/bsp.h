/* bsp.h: the parameters of a bsp workload (workloads/bsp.c), for code that runs
 * the same program elsewhere: the KVM runner (kvm/cmd_kvm.c); and its rule's
 * common steps inline (bsp_next_op), which the guest (models/guest.c, fetch_op)
 * calls for a bsp VM instead of the kind's next_op through its pointer: a bsp
 * thread's next operation is most of the guest's fetches in bsp scenarios, and the
 * call, its arguments and the operation read back from memory were a tenth of the
 * model's own work per event there (docs/performance.md). */
#ifndef VCPUSIM_BSP_H
#define VCPUSIM_BSP_H
#include <stdint.h>
#include "sim/simtime.h"
#include "workloads/workload.h"

/* the kind's parameters (bsp.c's struct workload_params holds them) */
struct bsp_params {
	int64_t iterations;
	simtime_t grain_ns;
	double imbalance;
	int locks_per_phase;
	int tlb_per_phase;
	int nlocks;
	simtime_t cs_ns;
	int barrier;
};

struct bsp_thread_pos {
	int64_t iter;
	int step;            /* within a phase: compute, lock, compute, lock, ..., barrier */
	simtime_t chunk;     /* compute per chunk in this phase */
};

struct bsp_state {   /* one allocation (as io.c's): fewer cache lines per fetch */
	int threads;
	struct bsp_thread_pos t[];
};

extern const struct workload_kind workload_bsp;

/* A bsp VM's parameters from its opaque params: bsp.c's struct workload_params has
 * them as its first and only member, and a pointer to a structure, suitably
 * converted, points to its first member (C11 6.7.2.1p15). */
static inline const struct bsp_params *bsp_params_of(const struct workload_params *wp)
{
	return (const struct bsp_params *)(const void *)wp;
}

/* The whole rule (bsp.c): every step, with the phase's draw at its start. */
void bsp_next_op_phase(struct bsp_thread_pos *tp, const struct bsp_params *p, gsl_rng *rng,
		       struct op *out);

/* Thread t's next operation (the kind's next_op). The steps inside a phase past its
 * first compute (steps 1..2k, most calls) are taken here, where none of the other
 * cases can apply (the program's end and the phase's draw are at step 0), without
 * a call or a random draw when there is one lock, and the phase's barrier when it
 * has no TLB shootdowns (step 2k+1: the rule's loop's first pass ends there); the
 * others by bsp_next_op_phase: the same ops in the same order, with the same draws. */
static inline void bsp_next_op(void *state, const struct bsp_params *p, int t, gsl_rng *rng,
			       struct op *out)
{
	struct bsp_state *s = state;
	struct bsp_thread_pos *tp = &s->t[t];
	unsigned step = (unsigned)tp->step - 1;   /* steps 1..2k: 0..2k-1 */
	out->request = 0;
	if (step < 2 * (unsigned)p->locks_per_phase && (step & 1 || p->nlocks == 1)) {
		tp->step = (int)step + 2;
		if (step & 1) {
			out->kind = OP_COMPUTE;
			out->ns = tp->chunk;
		} else {
			out->kind = OP_LOCK;
			out->lock = 0;
			out->cs_ns = p->cs_ns;
		}
		return;
	}
	/* the phase's end (step 2k+1) without TLB shootdowns: its barrier */
	if (step == 2 * (unsigned)p->locks_per_phase && p->tlb_per_phase == 0 && p->barrier) {
		tp->step = 0;
		tp->iter++;
		out->kind = OP_BARRIER;
		return;
	}
	bsp_next_op_phase(tp, p, rng, out);
}

struct workload_params;

struct bsp_desc {
	int64_t iterations;
	simtime_t grain_ns;
	double imbalance;
	int locks_per_phase, nlocks;
	int tlb_per_phase;
	simtime_t cs_ns;
	int barrier;
};

void bsp_describe(const struct workload_params *p, struct bsp_desc *d);

#endif
