/* sched.h: the table of operations every vCPU scheduling policy implements.
 *
 * Modelled on Xen's struct sched_ops (xen/common/sched/private.h): the core
 * (sim/sim.c) knows nothing of any policy. It tells the policy when a vCPU wakes or
 * blocks, and asks it what a pCPU should run next when that pCPU's scheduling
 * event fires (a "softirq" raised by the policy with sim_raise_schedule, or the end
 * of the slice the policy chose last time). The policy never switches contexts
 * itself: it only raises scheduling events and answers do_schedule. A new policy is
 * one file in models/policies/ plus one line in models/policies/registry.c. */
#ifndef VCPUSIM_SCHED_H
#define VCPUSIM_SCHED_H
#include <cjson/cJSON.h>
#include "sim/jparse.h"
#include "models/model.h"

struct sim;
struct scenario;

struct sched_ops {
	const char *name;
	const char *summary;  /* one line for `vcpusim list policies` */
	const char *source;   /* where its behaviour comes from */

	/* Reads the policy's keys from the scenario's "scheduler" object (which also
	 * holds "policy"); must reject unknown keys. Returns params, may be NULL. */
	void *(*parse)(struct jp *jp, const cJSON *sched, const char *path);
	void (*free_params)(void *params);
	/* Optional: scenario-level checks (e.g. gang: no VM wider than the host). */
	void (*validate)(struct jp *jp, const struct scenario *sc, const void *params);

	/* Allocates private state into s->policy and arms the policy's timers. All
	 * vCPUs start blocked; the core then wakes them in order at time 0. */
	void (*init)(struct sim *s);
	void (*destroy)(struct sim *s);

	/* v went from blocked to runnable (s->now). */
	void (*wake)(struct sim *s, struct vcpu *v);
	/* v went to blocked; if it is running the policy must raise a schedule on its
	 * pCPU. */
	void (*sleep)(struct sim *s, struct vcpu *v);
	/* What p runs next. p->curr is what it runs now (NULL = idle), which may be
	 * runnable (to be requeued), blocked, or to be kept. Returns the vCPU (NULL =
	 * idle) and sets *slice to how long until the next decision (SIMTIME_NEVER for
	 * none). The returned vCPU must be runnable and not running elsewhere. */
	struct vcpu *(*do_schedule)(struct sim *s, struct pcpu *p, simtime_t *slice);

	/* Optional: the guest monitor reports a long spinlock wait (ASMan). */
	void (*long_wait)(struct sim *s, struct vcpu *v, uint64_t cycles);
	/* Optional: a running vCPU starts or resumes spinning (G_LOCK_SPIN,
	 * G_BARRIER_SPIN or G_P2P_SPIN): called once per continuous spin, at its start and at each
	 * dispatch that resumes it. Used by the kvm policy's pause-loop exiting. */
	void (*spin)(struct sim *s, struct vcpu *v);
	/* Optional: the guest sends an IPI from vCPU `from` to `to` (a TLB shootdown's
	 * flush IPI, a reschedule IPI waking a sleeper, a paravirt kick), at the send.
	 * Used by dcs (urgent vCPU first). */
	void (*ipi)(struct sim *s, struct vcpu *from, struct vcpu *to);
	/* Optional: the policy's own invariants, run after every event under --check. */
	void (*check)(struct sim *s);
	/* Optional: extra per-VM results ("cosched_ms", ...) or host results. */
	void (*report_vm)(struct sim *s, struct vm *vm, cJSON *out);
};

const struct sched_ops *sched_find(const char *name);
extern const struct sched_ops *const sched_policies[];

#endif
