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
 * ends at the next tick as every BOOST does. Not modelled: the paper's urgent
 * allowance (a bound on how much an urgent vCPU may run ahead of its share) and
 * its IPI-driven load balancing; a halted target is left to Credit (its wake-up
 * is BOOSTed anyway). */
#include <stdlib.h>
#include "models/policies/credit.h"

struct dcs_params {
	struct credit_params cp;   /* first: credit_init_with reads it */
	simtime_t utslice_ns;
};

struct dcs_vcpu {
	int urgent;
	uint64_t urgent_ipis;   /* IPIs that made it urgent */
};

static const char *const extra_keys[] = { "utslice_us", NULL };

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

static struct vcpu *do_schedule(struct sim *s, struct pcpu *p, simtime_t *slice)
{
	struct vcpu *v = credit_do_schedule(s, p, slice);
	if (v) {
		struct dcs_vcpu *d = dv_of(s, v);
		const struct dcs_params *prm = s->policy_params;
		if (d->urgent) {
			d->urgent = 0;
			if (*slice == SIMTIME_NEVER || *slice > prm->utslice_ns)
				*slice = prm->utslice_ns;
		}
	}
	return v;
}

static void sleep_(struct sim *s, struct vcpu *v)
{
	dv_of(s, v)->urgent = 0;
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
			if (dv_of(s, v)->urgent && v->state == VCPU_BLOCKED)
				sim_invariant_failed(s, "dcs: blocked vCPU %s.%d is urgent",
						     v->vm->name, v->idx);
		}
}

static void report_vm(struct sim *s, struct vm *vm, cJSON *out)
{
	uint64_t n = 0;
	for (int i = 0; i < vm->nvcpus; i++)
		n += dv_of(s, &vm->vcpus[i])->urgent_ipis;
	cJSON_AddNumberToObject(out, "urgent_ipis", (double)n);
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
