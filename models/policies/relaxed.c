/* relaxed.c: relaxed coscheduling (VMware ESX 4 and later) on Xen Credit.
 *
 * What it does: each vCPU's progress is tracked; a vCPU makes progress while it
 * runs (whatever its guest does, spinning included) and while it is halted
 * (blocked: an idle vCPU is not behind). It falls behind only while it is runnable
 * but not running. A vCPU's skew is how far its progress is ahead of its slowest
 * sibling's. Every check_ms, a vCPU (running or queued) whose skew exceeds skew_ms
 * is co-stopped: taken off its pCPU and runqueue. A co-stopped vCPU stays stopped
 * until the laggard has caught up (its own skew is back to costart_ms, 0 by
 * default); the co-stopped siblings whose skew is back are co-started together at
 * that check. A vCPU that wakes up already too far ahead (it progressed while
 * halted) is co-stopped at once, before it runs. Everything else is Credit
 * (credit.c): co-stopping is Credit's parking of a capped vCPU.
 *
 * Source: VMware, "VMware vSphere 4: The CPU Scheduler in VMware ESX 4" (white
 * paper, 2009) and "The CPU Scheduler in VMware vSphere 5.1" (2013): skew is
 * tracked per vCPU, idle (halted) time counts as progress, only the leading vCPUs
 * are co-stopped, and co-stopped vCPUs are co-started when the laggards catch up.
 * model.md, "Extensions".
 *
 * Invariants kept (relaxed_check, under --check, after every event):
 *  - every Credit invariant (credit_check);
 *  - no running vCPU's skew exceeds skew_ms + check_ms (skew grows at most at the
 *    rate of time, and it is checked every check_ms and at every wake-up);
 *  - a co-stopped vCPU is runnable, not running, and on no runqueue.
 *
 * Where we interpret:
 *  - The base scheduler is Credit, not ESX's proportional-share scheduler: the
 *    comparison with credit then isolates what relaxed coscheduling changes.
 *  - Defaults: skew_ms 3 and check_ms 1 are our choice (ESX documents the
 *    mechanism, not its thresholds); costart_ms 0 means "until the laggard has
 *    fully caught up".
 *  - ESX co-starts the stopped vCPUs together with a lagging sibling; here the
 *    co-started vCPUs re-enter Credit's runqueues at the same instant (and are
 *    tickled), which Credit then dispatches; no strict gang dispatch.
 *  - Caps are refused (co-stop reuses Credit's parking). */
#include <stdlib.h>
#include "models/policies/credit.h"
#include "sim/scenario.h"

struct relaxed_params {
	struct credit_params *credit;
	simtime_t skew_ns, check_ns, costart_ns;
};

struct rvcpu {
	simtime_t stall;        /* time runnable but not running, up to ready_since */
	simtime_t ready_since;  /* -1 unless runnable and not running */
	int costopped;
	simtime_t costop_since;
};

struct relaxed {
	const struct relaxed_params *prm;
	struct rvcpu *rv;
	struct event check_ev;
	uint64_t *costops;      /* per VM */
	simtime_t *costop_ns;   /* per VM */
};

static struct relaxed *rx_of(struct sim *s) { return credit_of(s)->ext; }

static const char *const relaxed_keys[] = { "skew_ms", "check_ms", "costart_ms", NULL };

static void *parse(struct jp *jp, const cJSON *sched, const char *path)
{
	struct relaxed_params *p = calloc(1, sizeof *p);
	p->credit = credit_parse_params(jp, sched, path, relaxed_keys);
	p->skew_ns = (simtime_t)(jp_num(jp, sched, path, "skew_ms", 3, 0.001, 1e6) * NS_PER_MS);
	p->check_ns = (simtime_t)(jp_num(jp, sched, path, "check_ms", 1, 0.001, 1e6) * NS_PER_MS);
	p->costart_ns = (simtime_t)(jp_num(jp, sched, path, "costart_ms", 0, 0, 1e6) * NS_PER_MS);
	if (!jp->failed && p->costart_ns >= p->skew_ns)
		jp_fail(jp, path, "costart_ms: expected less than skew_ms");
	return p;
}

static void free_params(void *params)
{
	struct relaxed_params *p = params;
	if (!p)
		return;
	free(p->credit);
	free(p);
}

static void validate(struct jp *jp, const struct scenario *sc, const void *params)
{
	for (int i = 0; i < sc->nvms; i++)
		if (sc->vms[i].cap) {
			jp_fail(jp, "vms", "VM %s: caps are not supported by the relaxed policy",
				sc->vms[i].name);
			return;
		}
}

static simtime_t stall_of(struct sim *s, const struct rvcpu *r)
{
	return r->stall + (r->ready_since >= 0 ? s->now - r->ready_since : 0);
}

static void ready_begin(struct sim *s, struct rvcpu *r)
{
	if (r->ready_since < 0)
		r->ready_since = s->now;
}

static void ready_end(struct sim *s, struct rvcpu *r)
{
	if (r->ready_since >= 0) {
		r->stall += s->now - r->ready_since;
		r->ready_since = -1;
	}
}

static simtime_t skew_of(struct sim *s, struct vcpu *v)
{
	struct relaxed *rx = rx_of(s);
	simtime_t maxstall = 0;
	struct vm *vm = v->vm;
	for (int i = 0; i < vm->nvcpus; i++) {
		simtime_t st = stall_of(s, &rx->rv[vm->vcpus[i].id]);
		if (st > maxstall)
			maxstall = st;
	}
	return maxstall - stall_of(s, &rx->rv[v->id]);
}

static void costop(struct sim *s, struct vcpu *v)
{
	struct relaxed *rx = rx_of(s);
	struct rvcpu *r = &rx->rv[v->id];
	r->costopped = 1;
	r->costop_since = s->now;
	rx->costops[v->vm->id]++;
	credit_park(s, &credit_of(s)->v[v->id]);
}

static void costart(struct sim *s, struct vcpu *v)
{
	struct relaxed *rx = rx_of(s);
	struct rvcpu *r = &rx->rv[v->id];
	r->costopped = 0;
	rx->costop_ns[v->vm->id] += s->now - r->costop_since;
	credit_unpark(s, &credit_of(s)->v[v->id]);
}

static void check_event(struct sim *s, struct event *e)
{
	struct relaxed *rx = rx_of(s);
	sim_at(s, &rx->check_ev, s->now + rx->prm->check_ns);
	for (int m = 0; m < s->nvms; m++) {
		struct vm *vm = &s->vms[m];
		if (vm->nvcpus < 2)
			continue;
		/* decide on the skews as they are now, then act: co-starts together */
		for (int i = 0; i < vm->nvcpus; i++) {
			struct vcpu *v = &vm->vcpus[i];
			struct rvcpu *r = &rx->rv[v->id];
			simtime_t skew = skew_of(s, v);
			if (r->costopped)
				r->costopped = skew <= rx->prm->costart_ns ? 2 : 1;   /* 2: to co-start */
			else if (v->state != VCPU_BLOCKED && skew > rx->prm->skew_ns)
				r->costopped = 3;                                     /* 3: to co-stop */
		}
		for (int i = 0; i < vm->nvcpus; i++) {
			struct vcpu *v = &vm->vcpus[i];
			struct rvcpu *r = &rx->rv[v->id];
			if (r->costopped == 2) {
				costart(s, v);
			} else if (r->costopped == 3) {
				r->costopped = 0;
				costop(s, v);
			}
		}
	}
}

static void init(struct sim *s)
{
	const struct relaxed_params *prm = s->policy_params;
	credit_init_with(s, prm->credit);
	struct relaxed *rx = calloc(1, sizeof *rx);
	rx->prm = prm;
	rx->rv = calloc((size_t)s->nvcpus, sizeof *rx->rv);
	rx->costops = calloc((size_t)s->nvms, sizeof *rx->costops);
	rx->costop_ns = calloc((size_t)s->nvms, sizeof *rx->costop_ns);
	if (!rx->rv || !rx->costops || !rx->costop_ns) {
		fprintf(stderr, "vcpusim: out of memory\n");
		exit(1);
	}
	for (int i = 0; i < s->nvcpus; i++)
		rx->rv[i].ready_since = -1;
	credit_of(s)->ext = rx;
	event_init(&rx->check_ev, check_event, rx, EV_POLICY);
	sim_at(s, &rx->check_ev, prm->check_ns);
}

static void destroy(struct sim *s)
{
	struct credit *c = credit_of(s);
	if (c && c->ext) {
		struct relaxed *rx = c->ext;
		free(rx->rv);
		free(rx->costops);
		free(rx->costop_ns);
		free(rx);
		c->ext = NULL;
	}
	credit_destroy(s);
}

static void wake(struct sim *s, struct vcpu *v)
{
	credit_wake(s, v);
	if (v->state != VCPU_RUNNABLE || v->running_on)
		return;
	ready_begin(s, &rx_of(s)->rv[v->id]);
	/* it progressed while halted: co-stop it before it runs if it is too far ahead */
	if (v->vm->nvcpus > 1 && skew_of(s, v) > rx_of(s)->prm->skew_ns)
		costop(s, v);
}

static void sleep_(struct sim *s, struct vcpu *v)
{
	ready_end(s, &rx_of(s)->rv[v->id]);
	credit_sleep(s, v);
}

static struct vcpu *do_schedule(struct sim *s, struct pcpu *p, simtime_t *slice)
{
	struct relaxed *rx = rx_of(s);
	struct vcpu *prev = p->curr;
	struct vcpu *next = credit_do_schedule(s, p, slice);
	if (next != prev) {
		if (prev && prev->state == VCPU_RUNNING)
			ready_begin(s, &rx->rv[prev->id]);
		if (next)
			ready_end(s, &rx->rv[next->id]);
	}
	return next;
}

static void check(struct sim *s)
{
	credit_check(s);
	struct relaxed *rx = rx_of(s);
	struct credit *c = credit_of(s);
	for (int i = 0; i < s->nvcpus; i++) {
		struct vcpu *v = s->vcpus[i];
		struct rvcpu *r = &rx->rv[i];
		if ((r->ready_since >= 0) != (v->state == VCPU_RUNNABLE && !v->running_on))
			sim_invariant_failed(s, "relaxed: ready accounting of %s.%d disagrees with its state",
					     v->vm->name, v->idx);
		/* a vCPU co-stopped while running leaves at its pCPU's reschedule, now */
		int leaving = v->running_on && sim_resched_due(s, v->running_on);
		if (r->costopped && ((v->running_on && !leaving) ||
				     (!v->running_on && v->state != VCPU_RUNNABLE) || c->v[i].on_runq))
			sim_invariant_failed(s, "relaxed: co-stopped vCPU %s.%d is running, blocked or queued",
					     v->vm->name, v->idx);
		/* (a co-stop waiting for host activity on its pCPU to end is leaving) */
		if (v->state == VCPU_RUNNING && v->vm->nvcpus > 1 && !leaving) {
			simtime_t skew = skew_of(s, v);
			if (skew > rx->prm->skew_ns + rx->prm->check_ns)
				sim_invariant_failed(s, "relaxed: running vCPU %s.%d is %lld ns ahead of its slowest sibling (threshold %lld + check %lld)",
						     v->vm->name, v->idx, (long long)skew,
						     (long long)rx->prm->skew_ns, (long long)rx->prm->check_ns);
		}
	}
}

static void report_vm(struct sim *s, struct vm *vm, cJSON *out)
{
	struct relaxed *rx = rx_of(s);
	simtime_t ns = rx->costop_ns[vm->id];
	for (int i = 0; i < vm->nvcpus; i++) {
		struct rvcpu *r = &rx->rv[vm->vcpus[i].id];
		if (r->costopped)
			ns += s->now - r->costop_since;
	}
	cJSON_AddNumberToObject(out, "costops", (double)rx->costops[vm->id]);
	cJSON_AddNumberToObject(out, "costop_ms", simtime_ms(ns));
}

const struct sched_ops sched_relaxed = {
	.name = "relaxed",
	.summary = "Credit plus relaxed coscheduling: a vCPU too far ahead of its slowest sibling is co-stopped",
	.source = "VMware ESX 4 relaxed coscheduling (vSphere 4 CPU scheduler white paper, 2009)",
	.parse = parse,
	.free_params = free_params,
	.validate = validate,
	.init = init,
	.destroy = destroy,
	.wake = wake,
	.sleep = sleep_,
	.do_schedule = do_schedule,
	.check = check,
	.report_vm = report_vm,
};
