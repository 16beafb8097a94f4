/* dcs.c: the `dcs` policy: demand-based coordinated scheduling on Xen Credit
 * (Kim, Kim, Jeong, Huh, Maeng, "Demand-based coordinated scheduling for SMP VMs",
 * ASPLOS 2013). Coscheduling is demanded by the guest's own synchronous IPIs: a
 * vCPU that receives an IPI (TLB shootdown, reschedule, a paravirt kick) while it
 * is preempted is an *urgent vCPU*, and the hypervisor runs it first ("urgent
 * vCPU first"), preempting the current vCPU of its pCPU, for at most an urgent time
 * slice (utslice), after which Credit's ordinary order resumes.
 * The model on Credit (our interpretation): at the send (sched_ops.ipi), a target
 * that is runnable and queued, not parked by a cap, is raised to Credit's BOOST
 * priority and requeued (so it is ahead of UNDER and OVER work and its pCPU is
 * tickled: it preempts a lower-priority runner at once, as a BOOSTed wake-up does);
 * when it is dispatched its slice is cut to `utslice_us` (default 500). Credit's
 * accounting is untouched: the urgent vCPU burns its own credit, and its BOOST
 * ends at the next tick as every BOOST does.
 * Urgent allowance (the paper's bound on how far urgent vCPU-first may let a vCPU
 * run ahead of its proportional share; our reading, as the paper's text could not
 * be consulted from this workplace: urgency is granted against a vCPU's future
 * share, and the allowance caps that borrowing): a target that still has credit
 * (Credit's UNDER or BOOST) is made urgent as above, and this repays any earlier
 * borrowing; a target that has none (OVER) is made urgent only while the CPU time
 * it has run urgent since it last had credit is below `urgent_allowance_us`
 * (default 10000: one Credit tick's debit, our choice; 0 = only vCPUs with credit
 * are ever urgent). What it runs while urgent is debited by Credit as always, so
 * the borrowing is repaid by running less later. Refusals are counted
 * (`urgent_refused`). Not modelled: the paper's IPI-driven load balancing; a halted
 * target is left to Credit (its wake-up is BOOSTed anyway). */
#include <stdlib.h>
#include "models/policies/credit.h"

struct dcs_params {
	struct credit_params cp;   /* first: credit_init_with reads it */
	simtime_t utslice_ns;
	simtime_t allowance_ns;    /* urgent_allowance_us */
};

struct dcs_vcpu {
	int urgent;
	int borrowing;          /* made urgent while OVER: its urgent run is borrowed */
	simtime_t borrow_since; /* dispatched urgent while borrowing, or -1 */
	simtime_t borrowed;     /* urgent CPU time borrowed since it last had credit */
	uint64_t urgent_ipis;   /* IPIs that made it urgent */
	uint64_t refused;       /* IPIs to a preempted OVER vCPU past its allowance */
};

static const char *const extra_keys[] = { "utslice_us", "urgent_allowance_us", NULL };

static void *parse(struct jp *jp, const cJSON *sched, const char *path)
{
	struct credit_params *cp = credit_parse_params(jp, sched, path, extra_keys);
	struct dcs_params *p = calloc(1, sizeof *p);
	if (!p) {
		fprintf(stderr, "vcpusim: out of memory\n");
		exit(1);
	}
	p->cp = *cp;
	free(cp);
	p->utslice_ns = jp_int(jp, sched, path, "utslice_us", 500, 1, 1000000) * NS_PER_US;
	p->allowance_ns = jp_int(jp, sched, path, "urgent_allowance_us", 10000, 0, 1000000000) *
			  NS_PER_US;
	return p;
}

static struct dcs_vcpu *dv_of(struct sim *s, const struct vcpu *v)
{
	return &((struct dcs_vcpu *)credit_of(s)->ext)[v->id];
}

static void ipi(struct sim *s, struct vcpu *from, struct vcpu *to)
{
	(void)from;
	struct credit *c = credit_of(s);
	struct credit_vcpu *cv = &c->v[to->id];
	if (to->state != VCPU_RUNNABLE || to->running_on || !cv->on_runq || cv->parked ||
	    cv->foreign)
		return;
	struct dcs_vcpu *d = dv_of(s, to);
	const struct dcs_params *prm = s->policy_params;
	if (cv->pri != PRI_OVER) {
		d->borrowed = 0;   /* it has credit again: what it borrowed is repaid */
		d->borrowing = 0;
	} else if (d->borrowed >= prm->allowance_ns) {
		d->refused++;
		return;
	} else {
		d->borrowing = 1;
	}
	d->urgent = 1;
	d->urgent_ipis++;
	if (cv->pri == PRI_BOOST)
		return;   /* already first */
	int cpu = cv->rq_cpu;
	credit_runq_remove(s, cv);
	cv->pri = PRI_BOOST;
	credit_runq_insert(s, cpu, cv);
	credit_tickle(s, cpu, cv);
}

/* An urgent run on borrowed share ends: it counts against the allowance. */
static void borrow_end(struct sim *s, struct vcpu *v)
{
	struct dcs_vcpu *d = dv_of(s, v);
	if (d->borrow_since >= 0) {
		d->borrowed += s->now - d->borrow_since;
		d->borrow_since = -1;
	}
}

static struct vcpu *do_schedule(struct sim *s, struct pcpu *p, simtime_t *slice)
{
	if (p->curr)
		borrow_end(s, p->curr);
	struct vcpu *v = credit_do_schedule(s, p, slice);
	if (v) {
		struct dcs_vcpu *d = dv_of(s, v);
		const struct dcs_params *prm = s->policy_params;
		if (d->urgent) {
			d->urgent = 0;
			if (*slice == SIMTIME_NEVER || *slice > prm->utslice_ns)
				*slice = prm->utslice_ns;
			if (d->borrowing)
				d->borrow_since = s->now;
			d->borrowing = 0;
		}
	}
	return v;
}

static void sleep_(struct sim *s, struct vcpu *v)
{
	borrow_end(s, v);
	dv_of(s, v)->urgent = 0;
	dv_of(s, v)->borrowing = 0;
	credit_sleep(s, v);
}

static void init(struct sim *s)
{
	const struct dcs_params *p = s->policy_params;
	credit_init_with(s, &p->cp);
	struct dcs_vcpu *e = calloc(s->nvcpus > 0 ? (size_t)s->nvcpus : 1, sizeof *e);
	if (!e) {
		fprintf(stderr, "vcpusim: out of memory\n");
		exit(1);
	}
	for (int i = 0; i < s->nvcpus; i++)
		e[i].borrow_since = -1;
	credit_of(s)->ext = e;
}

static void destroy(struct sim *s)
{
	struct credit *c = credit_of(s);
	if (c) {
		free(c->ext);
		c->ext = NULL;
	}
	credit_destroy(s);
}

static void check(struct sim *s)
{
	credit_check(s);
	for (int i = 0; i < s->nvms; i++)
		for (int j = 0; j < s->vms[i].nvcpus; j++) {
			const struct vcpu *v = &s->vms[i].vcpus[j];
			const struct dcs_vcpu *d = dv_of(s, v);
			if (d->urgent && v->state == VCPU_BLOCKED)
				sim_invariant_failed(s, "dcs: blocked vCPU %s.%d is urgent",
						     v->vm->name, v->idx);
			if (d->borrow_since >= 0 && !v->running_on)
				sim_invariant_failed(s, "dcs: vCPU %s.%d borrows while not running",
						     v->vm->name, v->idx);
		}
}

static void report_vm(struct sim *s, struct vm *vm, cJSON *out)
{
	uint64_t n = 0, r = 0;
	for (int i = 0; i < vm->nvcpus; i++) {
		n += dv_of(s, &vm->vcpus[i])->urgent_ipis;
		r += dv_of(s, &vm->vcpus[i])->refused;
	}
	cJSON_AddNumberToObject(out, "urgent_ipis", (double)n);
	cJSON_AddNumberToObject(out, "urgent_refused", (double)r);
}

const struct sched_ops sched_dcs = {
	.name = "dcs",
	.summary = "Demand-based coordinated scheduling on Credit: a preempted vCPU receiving an IPI runs first, for a short slice",
	.source = "Kim et al., ASPLOS 2013; on xen/common/sched_credit.c (RELEASE-4.0.0); our interpretation in docs/policies.md",
	.parse = parse,
	.free_params = free,
	.init = init,
	.destroy = destroy,
	.wake = credit_wake,
	.sleep = sleep_,
	.do_schedule = do_schedule,
	.ipi = ipi,
	.check = check,
	.report_vm = report_vm,
};
