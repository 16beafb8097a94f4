/* credit2.c: Xen's Credit2 scheduler (the default since Xen 4.12), as summarised in
 * docs/xen-credit.md ("Later schedulers"), after xen/common/sched/credit2.c
 * (Xen 4.12 to 4.19). Also the engine of core scheduling (coresched.c).
 *
 * What it does: every unit (a vCPU; for core scheduling a group of sibling vCPUs)
 * has a credit in ns. Runqueues are shared by the resources (pCPUs; cores) of one
 * socket by default, and kept in credit order, highest first. The running unit
 * burns credit at (time x max_weight / its weight), so heavier units burn slower
 * and the shares follow the weights. When the unit chosen to run has no credit
 * left (<= 0), every unit of the runqueue gets +10 ms (more if the chosen one is
 * deeply negative), clipped at 10 ms + 0.5 ms of carry-over. A resource runs the
 * best of (its current unit, the head of its runqueue); a unit that last ran on
 * another resource must beat the current one by 0.5 ms (migration resistance). The
 * slice lasts until the runner's credit would meet the best waiter's, clamped to
 * [0.5 ms, 10 ms], and not below ratelimit (1 ms) for a unit that keeps running.
 * There is no BOOST: a waking unit keeps the credit it had, so it usually beats a
 * unit that has been running; it tickles its own resource if idle, else an idle
 * resource of its runqueue, else preempts the resource whose runner has the least
 * credit, if that is less than its own.
 *
 * Units and resources (Xen 4.13+ sched-gran): with gran > 1, vCPUs gran*k ..
 * gran*k+gran-1 of a VM form unit k, a resource is a core (gran SMT threads), and
 * a unit runs on all the threads of a core at once: thread t runs the unit's vCPU
 * t, or idles if that vCPU is blocked (or does not exist). A unit stops only when
 * all its vCPUs are blocked, when its slice ends or when it is preempted; the
 * switch is decided once for the core and every thread follows at the same
 * instant (Xen's rendezvous).
 *
 * Invariants kept (c2_check, under --check, after every event):
 *  - a runnable unit that no resource is running is on exactly one runqueue, its
 *    own; running and fully blocked units are on none; runqueues are in credit
 *    order;
 *  - every busy pCPU runs the vCPU of its slot in its resource's current unit,
 *    unless that pCPU reschedules at this instant.
 *
 * Where we interpret:
 *  - Load balancing between runqueues (Xen's balance_load, by load averages) is
 *    reduced to: a resource about to idle with an empty runqueue pulls the best
 *    unit of the fullest other runqueue. With one socket (the default hosts) there
 *    is one runqueue and this never happens.
 *  - Caps (Credit2's budgets, Xen 4.10+) and soft affinity are not modelled;
 *    caps are refused. The unit placement on wake (csched2_res_pick) is folded
 *    into the tickle: the unit stays on its runqueue.
 *  - Idle threads of a core that runs a unit stay idle (Xen does the same: the
 *    idle vCPU of the unit's slot runs). */
#include "models/policies/credit2.h"
#include <stdlib.h>
#include <string.h>
#include "sim/sim.h"
#include "sim/xalloc.h"

#define CREDIT_INIT    (10 * NS_PER_MS)
#define MIN_TIMER      (500 * NS_PER_US)
#define MAX_TIMER      (10 * NS_PER_MS)
#define MIGRATE_RESIST (500 * NS_PER_US)
#define CARRYOVER_MAX  MIN_TIMER

struct c2_unit {
	struct vm *vm;
	struct vcpu *vcpus;      /* first vCPU of the unit (contiguous in the VM) */
	int n;                   /* vCPUs in the unit */
	int64_t credit;
	int64_t residual;        /* carried remainder of the weight scaling */
	simtime_t start_time;    /* burn start */
	simtime_t run_start;     /* when it last started running (ratelimit) */
	int rqd;                 /* its runqueue */
	int res;                 /* last resource it ran on (Xen's processor) */
	int running_on;          /* resource, or -1 */
	int on_runq;
	struct c2_unit *prev, *next;
};

struct c2_res {
	int first, n;            /* pCPUs first .. first+n-1 */
	int rqd;
	struct c2_unit *curr;
	int need_decision;
	int tickled;
	struct event slice_ev;
};

struct c2_rqd {
	struct c2_unit *head, *tail;
	int max_weight;
	int nqueued;
};

struct c2 {
	struct c2_params prm;
	int nunits, nres, nrqd;
	struct c2_unit *u;
	struct c2_unit **unit_of;   /* by global vCPU id */
	struct c2_res *r;
	struct c2_rqd *q;
};

static struct c2 *c2_of(struct sim *s) { return s->policy; }

/* ---- parameters */

static const char *const c2_keys[] = { "policy", "runqueue", "ratelimit_us", NULL };
static const char *const rq_names[] = { "cpu", "core", "socket", "all", NULL };

void *c2_parse(struct jp *jp, const cJSON *sched, const char *path, const char *const *extra_keys)
{
	struct c2_params *p = xcalloc(1, sizeof *p);
	const char *keys[32];
	int n = 0;
	for (int i = 0; c2_keys[i]; i++)
		keys[n++] = c2_keys[i];
	for (int i = 0; extra_keys && extra_keys[i] && n < 31; i++)
		keys[n++] = extra_keys[i];
	keys[n] = NULL;
	jp_only_keys(jp, sched, path, keys);
	p->gran = 1;
	p->runqueue = (enum c2_rq_kind)jp_enum(jp, sched, path, "runqueue", rq_names, C2RQ_SOCKET);
	p->ratelimit_ns = jp_int(jp, sched, path, "ratelimit_us", 1000, 0, 500000) * NS_PER_US;
	return p;
}

void c2_validate(struct jp *jp, const struct scenario *sc, const void *params)
{
	const struct c2_params *p = params;
	for (int i = 0; i < sc->nvms; i++) {
		if (sc->vms[i].cap) {
			jp_fail(jp, "vms", "VM %s: caps are not modelled by the %s policy",
				sc->vms[i].name, sc->policy->name);
			return;
		}
		if (p->gran > 1 && sc->vms[i].affinity) {
			jp_fail(jp, "vms", "VM %s: affinity is not supported by the %s policy",
				sc->vms[i].name, sc->policy->name);
			return;
		}
	}
}

/* ---- helpers */

static int unit_runnable(const struct c2_unit *u)
{
	for (int i = 0; i < u->n; i++)
		if (u->vcpus[i].state != VCPU_BLOCKED)
			return 1;
	return 0;
}

static int unit_allowed(const struct c2 *c, const struct c2_unit *u, int res)
{
	const struct c2_res *r = &c->r[res];
	for (int i = 0; i < u->n; i++)
		if (!bitmap_test(u->vcpus[i].affinity, r->first + i))
			return 0;
	return 1;
}

static int res_of_pcpu(const struct c2 *c, int cpu) { return cpu / c->prm.gran; }

/* t2c with the remainder carried: credit -= time x max_weight / weight */
static void burn(struct sim *s, struct c2_unit *u)
{
	struct c2 *c = c2_of(s);
	simtime_t delta = s->now - u->start_time;
	if (delta <= 0)
		return;
	int64_t w = u->vm->weight;
	int64_t val = delta * c->q[u->rqd].max_weight + u->residual;
	u->credit -= val / w;
	u->residual = val % w;
	u->start_time = s->now;
}

/* c2t: the time for which u's credit lasts */
static simtime_t c2t(const struct c2 *c, const struct c2_unit *u, int64_t credit)
{
	return credit * u->vm->weight / c->q[u->rqd].max_weight;
}

/* ---- runqueues, in credit order (runq_insert: before the first with less) */

static void runq_insert(struct c2 *c, struct c2_unit *u)
{
	struct c2_rqd *q = &c->q[u->rqd];
	struct c2_unit *at = q->head;
	while (at && at->credit >= u->credit)
		at = at->next;
	u->next = at;
	u->prev = at ? at->prev : q->tail;
	if (u->prev)
		u->prev->next = u;
	else
		q->head = u;
	if (at)
		at->prev = u;
	else
		q->tail = u;
	u->on_runq = 1;
	q->nqueued++;
}

static void runq_remove(struct c2 *c, struct c2_unit *u)
{
	struct c2_rqd *q = &c->q[u->rqd];
	if (u->prev)
		u->prev->next = u->next;
	else
		q->head = u->next;
	if (u->next)
		u->next->prev = u->prev;
	else
		q->tail = u->prev;
	u->prev = u->next = NULL;
	u->on_runq = 0;
	q->nqueued--;
}

/* reset_credit: everybody of the runqueue gets CREDIT_INIT (times m), clipped */
static void reset_credit(struct sim *s, int rqd, struct c2_unit *snext)
{
	struct c2 *c = c2_of(s);
	int64_t m = 1;
	if (snext->credit < -CREDIT_INIT)
		m += -snext->credit / CREDIT_INIT;
	for (int i = 0; i < c->nunits; i++) {
		struct c2_unit *u = &c->u[i];
		if (u->rqd != rqd)
			continue;
		if (u->running_on >= 0)
			burn(s, u);
		u->credit += m * CREDIT_INIT;
		if (u->credit > CREDIT_INIT + CARRYOVER_MAX)
			u->credit = CREDIT_INIT + CARRYOVER_MAX;
		u->start_time = s->now;
	}
	/* the order is kept: all gained the same, and clipping keeps it monotone */
}

/* ---- decisions */

static void request_decision(struct sim *s, int res)
{
	struct c2 *c = c2_of(s);
	struct c2_res *r = &c->r[res];
	r->need_decision = 1;
	for (int i = 0; i < r->n; i++)
		sim_raise_schedule(s, &s->host.pcpus[r->first + i]);
}

static void slice_event(struct sim *s, struct event *e)
{
	struct c2 *c = c2_of(s);
	request_decision(s, (int)((struct c2_res *)e->owner - c->r));
}

/* runq_tickle: an idle resource (its own first), else preempt the resource whose
 * runner has the least credit, if less than u's */
static void tickle(struct sim *s, struct c2_unit *u)
{
	struct c2 *c = c2_of(s);
	int best = -1;
	int64_t lowest = 0;
	for (int k = 0; k < c->nres; k++) {
		int res = (u->res + k) % c->nres;
		struct c2_res *r = &c->r[res];
		if (r->rqd != u->rqd || r->tickled || !unit_allowed(c, u, res))
			continue;
		if (!r->curr) {
			r->tickled = 1;
			request_decision(s, res);
			return;
		}
	}
	for (int k = 0; k < c->nres; k++) {
		int res = (u->res + k) % c->nres;
		struct c2_res *r = &c->r[res];
		if (r->rqd != u->rqd || r->tickled || !unit_allowed(c, u, res) || !r->curr)
			continue;
		burn(s, r->curr);
		if (best < 0 || r->curr->credit < lowest) {
			best = res;
			lowest = r->curr->credit;
		}
	}
	if (best >= 0 && u->credit > lowest) {
		c->r[best].tickled = 1;
		request_decision(s, best);
	}
}

static simtime_t runtime(struct c2 *c, struct c2_unit *snext)
{
	int64_t rt_credit = snext->credit;
	struct c2_unit *swait = c->q[snext->rqd].head;
	if (swait && swait->credit > 0)
		rt_credit -= swait->credit;
	simtime_t t = rt_credit <= 0 ? MIN_TIMER : c2t(c, snext, rt_credit);
	if (t < MIN_TIMER)
		t = MIN_TIMER;
	if (t > MAX_TIMER)
		t = MAX_TIMER;
	if (c->prm.ratelimit_ns > t)
		t = c->prm.ratelimit_ns;
	return t;
}

/* Pull for an idle resource: the best allowed unit of the fullest other runqueue. */
static struct c2_unit *pull(struct c2 *c, int res)
{
	int from = -1;
	for (int q = 0; q < c->nrqd; q++)
		if (q != c->r[res].rqd && c->q[q].nqueued > 0 &&
		    (from < 0 || c->q[q].nqueued > c->q[from].nqueued))
			from = q;
	if (from < 0)
		return NULL;
	for (struct c2_unit *u = c->q[from].head; u; u = u->next)
		if (unit_allowed(c, u, res)) {
			runq_remove(c, u);
			u->rqd = c->r[res].rqd;
			if (u->vm->weight > c->q[u->rqd].max_weight)
				c->q[u->rqd].max_weight = u->vm->weight;
			return u;
		}
	return NULL;
}

static void decide(struct sim *s, int res, int self)
{
	struct c2 *c = c2_of(s);
	struct c2_res *r = &c->r[res];
	struct c2_unit *prev = r->curr, *snext = NULL;
	r->need_decision = 0;
	r->tickled = 0;
	if (prev)
		burn(s, prev);
	int prev_runnable = prev && unit_runnable(prev);
	simtime_t slice;
	if (prev_runnable && c->prm.ratelimit_ns > 0 && s->now - prev->run_start < c->prm.ratelimit_ns) {
		/* ratelimit: the runner keeps the resource at least this long */
		snext = prev;
		slice = c->prm.ratelimit_ns - (s->now - prev->run_start);
	} else {
		/* runq_candidate */
		snext = prev_runnable ? prev : NULL;
		for (struct c2_unit *u = c->q[r->rqd].head; u; u = u->next) {
			if (!unit_allowed(c, u, res))
				continue;
			if (u->res != res && snext && snext->credit + MIGRATE_RESIST > u->credit)
				continue;
			if (!snext || u->credit > snext->credit)
				snext = u;
			break;
		}
		if (!snext)
			snext = pull(c, res);
		else if (snext != prev)
			runq_remove(c, snext);
		if (snext && snext->credit <= 0)
			reset_credit(s, r->rqd, snext);
		if (prev_runnable && snext != prev)
			runq_insert(c, prev);
		slice = snext ? runtime(c, snext) : SIMTIME_NEVER;
	}
	if (prev && prev != snext)
		prev->running_on = -1;
	if (snext && snext != prev) {
		snext->running_on = res;
		snext->res = res;
		snext->start_time = s->now;
		snext->run_start = s->now;
	}
	r->curr = snext;
	if (slice != SIMTIME_NEVER)
		sim_at(s, &r->slice_ev, s->now + slice);
	else
		evq_cancel(&s->q, &r->slice_ev);
	/* the other threads of the core follow at this instant */
	for (int i = 0; i < r->n; i++)
		if (r->first + i != self)
			sim_raise_schedule(s, &s->host.pcpus[r->first + i]);
}

struct vcpu *c2_do_schedule(struct sim *s, struct pcpu *p, simtime_t *slice)
{
	struct c2 *c = c2_of(s);
	int res = res_of_pcpu(c, p->id);
	struct c2_res *r = &c->r[res];
	*slice = SIMTIME_NEVER;   /* the resource's slice event drives decisions */
	if (r->need_decision)
		decide(s, res, p->id);
	struct c2_unit *u = r->curr;
	int t = p->id - r->first;
	if (!u || t >= u->n)
		return NULL;
	struct vcpu *v = &u->vcpus[t];
	if (v == p->curr && v->state == VCPU_RUNNING)
		return v;
	if (v->state != VCPU_RUNNABLE)
		return NULL;
	if (v->running_on) {
		/* still on the core it is leaving, which switches at this instant:
		 * look again after it */
		sim_raise_schedule(s, p);
		return NULL;
	}
	return v;
}

void c2_wake(struct sim *s, struct vcpu *v)
{
	struct c2 *c = c2_of(s);
	struct c2_unit *u = c->unit_of[v->id];
	if (v->running_on)
		return;   /* blocked and woken within one instant: it never left */
	if (u->running_on >= 0) {
		/* its unit holds a core: its thread dispatches it */
		struct c2_res *r = &c->r[u->running_on];
		sim_raise_schedule(s, &s->host.pcpus[r->first + (int)(v - u->vcpus)]);
		return;
	}
	if (u->on_runq)
		return;
	runq_insert(c, u);
	tickle(s, u);
}

void c2_sleep(struct sim *s, struct vcpu *v)
{
	struct c2 *c = c2_of(s);
	struct c2_unit *u = c->unit_of[v->id];
	if (u->running_on >= 0) {
		if (unit_runnable(u))
			sim_raise_schedule(s, v->running_on ? v->running_on
					   : &s->host.pcpus[c->r[u->running_on].first + (int)(v - u->vcpus)]);
		else
			request_decision(s, u->running_on);
	} else if (u->on_runq && !unit_runnable(u)) {
		runq_remove(c, u);
	}
}

/* ---- set-up */

void c2_init_with(struct sim *s, const struct c2_params *prm)
{
	struct c2 *c = xcalloc(1, sizeof *c);
	s->policy = c;
	c->prm = *prm;
	int g = prm->gran;
	const struct host *h = &s->host;
	c->nres = h->npcpus / g;
	c->r = xcalloc((size_t)c->nres, sizeof *c->r);
	/* runqueue ids: by resource, core or socket */
	int *rq_of = xcalloc((size_t)c->nres, sizeof *rq_of);
	for (int i = 0; i < c->nres; i++) {
		const struct pcpu *p = &h->pcpus[i * g];
		switch (prm->runqueue) {
		case C2RQ_CPU: rq_of[i] = i; break;
		case C2RQ_CORE: rq_of[i] = p->socket * h->cores + p->core; break;
		case C2RQ_SOCKET: rq_of[i] = p->socket; break;
		case C2RQ_ALL: rq_of[i] = 0; break;
		}
		if (rq_of[i] + 1 > c->nrqd)
			c->nrqd = rq_of[i] + 1;
	}
	c->q = xcalloc((size_t)c->nrqd, sizeof *c->q);
	for (int i = 0; i < c->nres; i++) {
		struct c2_res *r = &c->r[i];
		r->first = i * g;
		r->n = g;
		r->rqd = rq_of[i];
		event_init(&r->slice_ev, slice_event, r, EV_POLICY);
	}
	free(rq_of);
	for (int m = 0; m < s->nvms; m++)
		c->nunits += (s->vms[m].nvcpus + g - 1) / g;
	c->u = xcalloc((size_t)c->nunits, sizeof *c->u);
	c->unit_of = xcalloc((size_t)s->nvcpus, sizeof *c->unit_of);
	int k = 0;
	for (int m = 0; m < s->nvms; m++) {
		struct vm *vm = &s->vms[m];
		for (int b = 0; b < vm->nvcpus; b += g, k++) {
			struct c2_unit *u = &c->u[k];
			u->vm = vm;
			u->vcpus = &vm->vcpus[b];
			u->n = vm->nvcpus - b < g ? vm->nvcpus - b : g;
			u->credit = CREDIT_INIT;
			u->running_on = -1;
			u->res = res_of_pcpu(c, u->vcpus[0].processor);
			u->rqd = c->r[u->res].rqd;
			if (vm->weight > c->q[u->rqd].max_weight)
				c->q[u->rqd].max_weight = vm->weight;
			for (int i = 0; i < u->n; i++)
				c->unit_of[u->vcpus[i].id] = u;
		}
	}
}

void c2_destroy(struct sim *s)
{
	struct c2 *c = c2_of(s);
	if (!c)
		return;
	free(c->u);
	free(c->unit_of);
	free(c->r);
	free(c->q);
	free(c);
	s->policy = NULL;
}

void c2_check(struct sim *s)
{
	struct c2 *c = c2_of(s);
	for (int q = 0; q < c->nrqd; q++) {
		int n = 0;
		for (struct c2_unit *u = c->q[q].head; u; u = u->next) {
			n++;
			if (u->rqd != q || !u->on_runq)
				sim_invariant_failed(s, "credit2: runqueue %d holds a unit of another", q);
			if (u->next && u->next->credit > u->credit)
				sim_invariant_failed(s, "credit2: runqueue %d out of credit order", q);
		}
		if (n != c->q[q].nqueued)
			sim_invariant_failed(s, "credit2: runqueue %d count is wrong", q);
	}
	for (int i = 0; i < c->nunits; i++) {
		struct c2_unit *u = &c->u[i];
		int runnable = unit_runnable(u);
		if (u->running_on >= 0 && c->r[u->running_on].curr != u)
			sim_invariant_failed(s, "credit2: unit of %s thinks it runs on a resource that runs another",
					     u->vm->name);
		if (u->on_runq && (u->running_on >= 0 || !runnable))
			sim_invariant_failed(s, "credit2: unit of %s is queued but %s", u->vm->name,
					     u->running_on >= 0 ? "running" : "blocked");
		if (!u->on_runq && u->running_on < 0 && runnable)
			sim_invariant_failed(s, "credit2: runnable unit of %s (vCPU %d) is on no runqueue",
					     u->vm->name, u->vcpus[0].idx);
	}
	for (int i = 0; i < s->host.npcpus; i++) {
		struct pcpu *p = &s->host.pcpus[i];
		if (!p->curr)
			continue;
		if (sim_resched_due(s, p))
			continue;
		struct c2_res *r = &c->r[res_of_pcpu(c, i)];
		int t = i - r->first;
		if (!r->curr || t >= r->curr->n || &r->curr->vcpus[t] != p->curr)
			sim_invariant_failed(s, "credit2: pCPU %d runs %s.%d, not its slot of the current unit",
					     i, p->curr->vm->name, p->curr->idx);
	}
}

/* ---- the credit2 policy: one vCPU per unit, one pCPU per resource */

static void *parse(struct jp *jp, const cJSON *sched, const char *path)
{
	return c2_parse(jp, sched, path, NULL);
}

static void init(struct sim *s)
{
	c2_init_with(s, s->policy_params);
}

const struct sched_ops sched_credit2 = {
	.name = "credit2",
	.summary = "Xen Credit2: credits in ns burnt by weight, per-socket runqueues, reset at 0, no BOOST",
	.source = "xen/common/sched/credit2.c (Xen 4.12+ default); docs/xen-credit.md",
	.parse = parse,
	.free_params = free,
	.validate = c2_validate,
	.init = init,
	.destroy = c2_destroy,
	.wake = c2_wake,
	.sleep = c2_sleep,
	.do_schedule = c2_do_schedule,
	.check = c2_check,
};
