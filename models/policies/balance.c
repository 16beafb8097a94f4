/* balance.c: balance scheduling on Xen Credit.
 *
 * What it does: Xen 4.0 Credit (credit.c), except that sibling vCPUs (vCPUs of one
 * VM) are never on the same pCPU at once, counting both the vCPU a pCPU runs and
 * those queued on its runqueue. Two siblings on one runqueue can only run one
 * after the other, so the second waits a whole slice while the first may hold a
 * lock it needs (or wait at a barrier for it); spreading them lets the siblings
 * run concurrently more often, without any coscheduling and so without its CPU
 * fragmentation.
 *
 * Source: O. Sukwong and H. S. Kim, "Is co-scheduling too expensive for SMP VMs?",
 * EuroSys 2011 (implemented there in KVM's CFS by changing the runqueue chosen for
 * a waking vCPU thread). model.md, "Extensions".
 *
 * Invariants kept (balance_check, under --check, after every event):
 *  - every Credit invariant (credit_check);
 *  - for every pCPU, its current vCPU and its runqueue hold at most one vCPU of
 *    each VM.
 * How: every way a vCPU joins a runqueue goes through place() (a wake-up, the end
 * of a cap's parking, the move after a tick found a better pCPU) and every steal
 * through may_steal(); both refuse a pCPU that holds a sibling.
 *
 * Where we interpret:
 *  - The choice among sibling-free pCPUs: Xen's choice if it is free, else the
 *    first idle pCPU after it, else the one with the shortest runqueue (the paper
 *    picks "a runqueue without a sibling"; it does not say which).
 *  - A VM wider than the host cannot be balanced, and per-vCPU affinity of a
 *    multi-vCPU VM could leave no sibling-free pCPU: both are refused when the
 *    scenario is validated (exit 2) rather than silently breaking the property.
 *    Single-vCPU VMs (e.g. host.noise) may be pinned.
 *  - The current vCPU of a pCPU counts as present even when it has just blocked
 *    and leaves at this same instant (conservative). */
#include <stdlib.h>
#include "models/policies/credit.h"
#include "sim/scenario.h"

static int holds_sibling(struct sim *s, int cpu, const struct vcpu *v, int count_curr)
{
	struct credit *c = credit_of(s);
	const struct pcpu *p = &s->host.pcpus[cpu];
	if (count_curr && p->curr && p->curr != v && p->curr->vm == v->vm)
		return 1;
	for (const struct credit_vcpu *e = c->p[cpu].rq_head; e; e = e->rq_next)
		if (e->v != v && e->v->vm == v->vm)
			return 1;
	return 0;
}

static int place(struct sim *s, struct vcpu *v, int cpu, const struct vcpu *incoming, int incoming_cpu)
{
	int n = s->host.npcpus;
	int best = -1, best_score = 0;
	for (int k = 0; k < n; k++) {
		int q = (cpu + k) % n;
		if (!bitmap_test(v->affinity, q) || holds_sibling(s, q, v, 1))
			continue;
		int arriving = incoming && incoming_cpu == q && incoming != v;
		if (arriving && incoming->vm == v->vm)
			continue;
		if (k == 0)
			return q;   /* Xen's choice is sibling-free: keep it */
		int len = 0;
		for (const struct credit_vcpu *e = credit_of(s)->p[q].rq_head; e; e = e->rq_next)
			len++;
		int busy = s->host.pcpus[q].curr != NULL || arriving;
		int score = busy ? 1 + len : 0;
		if (best < 0 || score < best_score) {
			best = q;
			best_score = score;
		}
	}
	return best >= 0 ? best : cpu;   /* none: impossible when validated (checked) */
}

/* Called from Credit's do_schedule on cpu, after its previous vCPU went back to
 * its runqueue or is leaving: only the runqueue counts. */
static int may_steal(struct sim *s, const struct vcpu *v, int cpu)
{
	return !holds_sibling(s, cpu, v, 0);
}

static const char *const balance_keys[] = { NULL };

static void *parse(struct jp *jp, const cJSON *sched, const char *path)
{
	return credit_parse_params(jp, sched, path, balance_keys);
}

static void validate(struct jp *jp, const struct scenario *sc, const void *params)
{
	for (int i = 0; i < sc->nvms; i++) {
		const struct vm_config *c = &sc->vms[i];
		if (c->vcpus > sc->npcpus) {
			jp_fail(jp, "vms", "VM %s has %d vCPUs but the host %d pCPUs: balance "
				"scheduling needs a pCPU per sibling", c->name, c->vcpus, sc->npcpus);
			return;
		}
		/* a single vCPU has no sibling to avoid: its affinity is only respected */
		if (c->affinity && c->vcpus > 1) {
			jp_fail(jp, "vms", "VM %s: affinity is not supported by the balance policy "
				"for VMs with several vCPUs (it could leave no sibling-free pCPU)",
				c->name);
			return;
		}
	}
}

static void init(struct sim *s)
{
	credit_init_with(s, s->policy_params);
	struct credit *c = credit_of(s);
	c->place = place;
	c->may_steal = may_steal;
}

static void check(struct sim *s)
{
	credit_check(s);
	struct credit *c = credit_of(s);
	for (int i = 0; i < s->host.npcpus; i++) {
		const struct pcpu *p = &s->host.pcpus[i];
		for (const struct credit_vcpu *e = c->p[i].rq_head; e; e = e->rq_next) {
			if (p->curr && p->curr->vm == e->v->vm)
				sim_invariant_failed(s, "balance: vCPU %s.%d queued on pCPU %d which runs its sibling %d",
						     e->v->vm->name, e->v->idx, i, p->curr->idx);
			for (const struct credit_vcpu *f = e->rq_next; f; f = f->rq_next)
				if (f->v->vm == e->v->vm)
					sim_invariant_failed(s, "balance: siblings %s.%d and %s.%d both queued on pCPU %d",
							     e->v->vm->name, e->v->idx, f->v->vm->name,
							     f->v->idx, i);
		}
	}
}

const struct sched_ops sched_balance = {
	.name = "balance",
	.summary = "Credit, but sibling vCPUs never share a pCPU's runqueue (balance scheduling)",
	.source = "Sukwong and Kim, EuroSys 2011",
	.parse = parse,
	.free_params = free,
	.validate = validate,
	.init = init,
	.destroy = credit_destroy,
	.wake = credit_wake,
	.sleep = credit_sleep,
	.do_schedule = credit_do_schedule,
	.check = check,
};
