/* cosched.c: coscheduling executed by IPIs on top of Xen Credit: the `asman`
 * policy (adaptive dynamic coscheduling, HPDC 2011; docs/model.md,
 * "Policies", asman 1-3; Weng, Liu, Yu and Li) and the `hybrid-ipi` variant
 * (the static "concurrent" flag of Weng et al., VEE 2009, executed with this
 * mechanism; the `hybrid` policy proper is gang-based, gang.c), which differ
 * only in who switches a VM's mode.
 *
 * Execute (both): Credit schedules every vCPU as usual (accounting, BOOST,
 * runqueues, stealing: credit.c). Whenever Credit itself chooses a vCPU v of a
 * VM in coscheduled mode on pCPU p (a new dispatch or a continuation at slice
 * end), the scheduler sends an IPI (latency ipi_us) to one distinct pCPU for
 * each runnable, not running sibling: the sibling's own pCPU if free of
 * siblings, else an idle pCPU, else the pCPU running the lowest-priority vCPU
 * among those whose Credit priority is not higher than v's (v is the VM's
 * representative: Credit found it the best choice on p). With preempt =
 * "strict" the sibling's own priority is a bar too, so an OVER sibling never
 * preempts UNDER work; that keeps shares closer to Credit's but leaves a VM
 * whose vCPUs Credit stacked on one pCPU uncoscheduled (docs/policies.md). With
 * preempt = "always" (model.md's literal reading) there is no bar.
 * On arrival the target pCPU reschedules and, if what it runs is still not
 * above the bar, runs the sibling, preempting what ran there (requeued by
 * Credit's rules, accounting untouched), with a slice ending when the
 * initiator's slice ends, so the group also stops together. Credit accounting
 * is kept for every vCPU: a coscheduled VM that used more than its share goes
 * OVER and then preempts only OVER work, and a pulled sibling yields at the next
 * Credit tick to better work queued on its pCPU. Shares stay close to Credit's
 * but not equal: displacing equal-priority work shifts some time to the
 * coscheduled VM (docs/policies.md: hybrid-ipi's always-coscheduled VM takes
 * 15-21% of a 1-vCPU neighbour's time on the tradeoff mix, asman 2-10%).
 *
 * Determine (asman): the guest monitor reports each long spinlock wait (guest
 * waits >= guest.long_wait_cycles) by a hypercall costing hypercall_ns of the
 * reporting vCPU's CPU. Every window (window_ms), a VM not coscheduled whose
 * reports in the window reach engage_waits enters coscheduled mode for a hold
 * of k windows; k is drawn from the holds list by a Roth-Erev learner (Roth and
 * Erev 1995; with recency phi and experimentation eps as in Erev and Roth 1998):
 * propensities q_j, P(j) = q_j / sum q; after reward R for the chosen hold c:
 * q_j <- (1 - phi) q_j + (j == c ? R (1 - eps) : R eps / (N - 1)). When a hold
 * ends the VM runs uncoscheduled and is observed for up to k windows: if long
 * waits come back after q quiet windows, R = (k + q) / (k + q + 1) (the share of
 * the episode's windows without long waits: a hold too short for a persistent
 * need pays a relapse window every k + 1); if they do not, R = 1. The reward is
 * our interpretation (the paper cites Denning's locality and Roth-Erev but its
 * text is not available here). A VM that never reports a long wait is never
 * coscheduled.
 *
 * Invariants (cosched_check, under --check, on top of credit_check):
 *  - a VM is in coscheduled mode only if it is flagged (hybrid-ipi) or has reported
 *    at least one long wait (asman);
 *  - in-flight coscheduling IPIs and their targets agree: each vCPU is the
 *    target of at most one, each pCPU receives at most one (a target whose VM
 *    left the mode meanwhile is dropped on arrival). */
#include "models/policies/cosched.h"
#include <stdlib.h>
#include <string.h>
#include "sim/rng.h"
#include "sim/trace.h"
#include "sim/xalloc.h"

/* ---- parameters */

void *cosched_parse(struct jp *jp, const cJSON *sched, const char *path, int dynamic)
{
	static const char *const asman_keys[] = { "ipi_us", "preempt", "hypercall_ns", "window_ms",
						  "engage_waits", "holds", "recency",
						  "experimentation", NULL };
	static const char *const hybrid_keys[] = { "ipi_us", "preempt", NULL };
	static const char *const preempts[] = { "initiator", "strict", "always", NULL };
	struct credit_params *cp = credit_parse_params(jp, sched, path,
						       dynamic ? asman_keys : hybrid_keys);
	struct cosched_params *p = xcalloc(1, sizeof *p);
	p->credit = *cp;
	free(cp);
	p->dynamic = dynamic;
	p->ipi_ns = (simtime_t)(jp_num(jp, sched, path, "ipi_us", 2, 0, 1e6) * NS_PER_US + 0.5);
	p->preempt = jp_enum(jp, sched, path, "preempt", preempts, 0);
	if (!dynamic)
		return p;
	p->hypercall_ns = jp_int(jp, sched, path, "hypercall_ns", 1000, 0, NS_PER_SEC);
	p->window_ns = (simtime_t)(jp_num(jp, sched, path, "window_ms", 30, 0.1, 1e6) * NS_PER_MS);
	p->engage_waits = (int)jp_int(jp, sched, path, "engage_waits", 1, 1, 1000000000);
	p->recency = jp_num(jp, sched, path, "recency", 0.1, 0, 1);
	p->experimentation = jp_num(jp, sched, path, "experimentation", 0.2, 0, 1);
	static const int def_holds[] = { 1, 2, 4, 8, 16 };
	p->nholds = 5;
	memcpy(p->holds, def_holds, sizeof def_holds);
	const cJSON *h = jp_array(jp, sched, path, "holds", 0);
	if (h) {
		char hp[JP_PATH_MAX];
		jp_join(hp, path, "holds");
		int n = cJSON_GetArraySize(h);
		if (n < 1 || n > ASMAN_MAX_HOLDS) {
			jp_fail(jp, hp, "expected 1 to %d holds (in windows), got %d", ASMAN_MAX_HOLDS, n);
			return p;
		}
		p->nholds = 0;
		const cJSON *e;
		cJSON_ArrayForEach(e, h) {
			char ep[JP_PATH_MAX];
			jp_index(ep, hp, p->nholds);
			if (!jp_is_integer(e) || e->valuedouble < 1 || e->valuedouble > 1e6) {
				jp_expected(jp, ep, e, "an integer number of windows in [1, 1000000]");
				return p;
			}
			p->holds[p->nholds++] = (int)e->valuedouble;
		}
	}
	return p;
}

/* ---- mode switches */

static struct cosched *cs_of(struct sim *s) { return credit_of(s)->ext; }
static struct credit_vcpu *cv(struct sim *s, const struct vcpu *v) { return &credit_of(s)->v[v->id]; }

static void mode_set(struct sim *s, struct vm *vm, int on)
{
	struct cosched *x = cs_of(s);
	struct cosched_vm *a = &x->vm[vm->id];
	if (a->on == on)
		return;
	a->on = on;
	if (x->prm->dynamic)   /* hybrid-ipi's mode is static: never counted as a switch */
		vm->st.mode_switches++;
	if (on)
		a->on_since = s->now;
	else
		vm->st.cosched_ns += s->now - a->on_since;
	if (s->trace)
		trace_mode_switch(s->trace, s, vm, on);
}

/* ---- execute: IPIs to the siblings' pCPUs */

static void ipi_arrive(struct sim *s, struct event *e)
{
	struct pcpu *p = e->owner;
	if (cs_of(s)->target[p->id])
		sim_raise_schedule(s, p);
}

static int pri_of(struct sim *s, const struct pcpu *q)
{
	return q->curr ? cv(s, q->curr)->pri : PRI_IDLE;
}

/* A pCPU for sibling u, not in x->used and with no IPI in flight; -1 if none. */
static int pick_target(struct sim *s, struct vcpu *u, int from, int upri)
{
	struct cosched *x = cs_of(s);
	int n = s->host.npcpus;
	int best = -1, best_pri = 0;
#define FREE(q) (!bitmap_test(x->used, (q)) && !x->target[(q)] && bitmap_test(u->affinity, (q)))
	int q = u->processor;
	if (FREE(q) && pri_of(s, &s->host.pcpus[q]) <= upri &&
	    !(s->host.pcpus[q].curr && s->host.pcpus[q].curr->vm == u->vm))
		return q;
	for (int k = 1; k <= n; k++) {
		q = (from + k) % n;
		if (!FREE(q))
			continue;
		struct pcpu *pq = &s->host.pcpus[q];
		if (pq->curr && pq->curr->vm == u->vm)
			continue;
		int pr = pri_of(s, pq);
		if (pr == PRI_IDLE)
			return q;
		/* the lowest priority runner, the first such from `from` */
		if (pr <= upri && (best < 0 || pr < best_pri)) {
			best = q;
			best_pri = pr;
		}
	}
#undef FREE
	return best;
}

static void cosched_siblings(struct sim *s, struct pcpu *p, struct vcpu *v)
{
	struct cosched *x = cs_of(s);
	struct vm *vm = v->vm;
	int n = s->host.npcpus, pri = cv(s, v)->pri;
	memset(x->used, 0, (size_t)bitmap_words(n) * sizeof *x->used);
	bitmap_set(x->used, p->id);
	for (int i = 0; i < vm->nvcpus; i++) {
		struct vcpu *u = &vm->vcpus[i];
		if (u->running_on)
			bitmap_set(x->used, u->running_on->id);
		if (x->targeted[u->id] >= 0)
			bitmap_set(x->used, x->targeted[u->id]);
	}
	for (int i = 0; i < vm->nvcpus; i++) {
		struct vcpu *u = &vm->vcpus[i];
		if (u == v || u->state != VCPU_RUNNABLE || u->running_on || cv(s, u)->parked ||
		    x->targeted[u->id] >= 0)
			continue;
		/* a sibling preempts nothing of higher Credit priority than v (the
		 * VM's representative); with preempt = "strict", nor than itself */
		int upri = pri;
		if (x->prm->preempt == PREEMPT_STRICT && cv(s, u)->pri < pri)
			upri = cv(s, u)->pri;
		else if (x->prm->preempt == PREEMPT_ALWAYS)
			upri = PRI_BOOST;
		int q = pick_target(s, u, p->id, upri);
		if (q < 0)
			continue;
		bitmap_set(x->used, q);
		x->target[q] = u;
		x->until[q] = p->slice_end;
		x->bar[q] = upri;
		x->targeted[u->id] = q;
		x->cosched_ipis++;
		s->ipis++;
		sim_at(s, &x->ipi[q], s->now + x->prm->ipi_ns);
	}
}

/* The IPI for u has arrived at p: run u now, preempting p's vCPU, Credit-style
 * bookkeeping (credit_do_schedule's, minus the choice). */
static struct vcpu *dispatch_sibling(struct sim *s, struct pcpu *p, struct vcpu *u, simtime_t until,
				     simtime_t *slice)
{
	struct credit *c = credit_of(s);
	struct vcpu *prev = p->curr;
	struct credit_vcpu *sprev = prev ? cv(s, prev) : NULL, *cu = cv(s, u);
	if (sprev) {
		credit_burn(s, sprev);
		if (prev->state == VCPU_RUNNING && !sprev->parked) {
			credit_runq_insert(s, p->id, sprev);
			/* idle pCPUs may take the preempted vCPU (Credit's tickle of idlers) */
			int n = s->host.npcpus;
			for (int q = bitmap_next(c->idlers, n, 0); q >= 0; q = bitmap_next(c->idlers, n, q + 1))
				if (q != p->id && bitmap_test(prev->affinity, q))
					sim_raise_schedule(s, &s->host.pcpus[q]);
		}
		sprev->migrating = 0;
		sprev->rem = s->now - sprev->start_time;
	}
	if (cu->on_runq)
		credit_runq_remove(s, cu);
	cu->start_time = s->now - cu->rem;
	bitmap_clear(c->idlers, p->id);
	cs_of(s)->pulled[p->id] = 1;
	*slice = until > s->now && until != SIMTIME_NEVER ? until - s->now : c->tslice_ns;
	return u;
}

struct vcpu *cosched_do_schedule(struct sim *s, struct pcpu *p, simtime_t *slice)
{
	struct cosched *x = cs_of(s);
	struct vcpu *u = x->target[p->id];
	x->pulled[p->id] = 0;
	if (u && !event_pending(&x->ipi[p->id])) {
		x->target[p->id] = NULL;
		x->targeted[u->id] = -1;
		/* still wanted, and p's runner still no better than the bar (it may
		 * have changed while the IPI was in flight) */
		if (x->vm[u->vm->id].on && u->state == VCPU_RUNNABLE && !u->running_on &&
		    !cv(s, u)->parked && !(p->curr && p->curr->vm == u->vm && p->curr->state == VCPU_RUNNING) &&
		    (!p->curr || p->curr->state != VCPU_RUNNING || pri_of(s, p) <= x->bar[p->id]))
			return dispatch_sibling(s, p, u, x->until[p->id], slice);
	}
	struct vcpu *next = credit_do_schedule(s, p, slice);
	if (next && x->vm[next->vm->id].on && next->vm->nvcpus > 1) {
		/* the slice end the core will set, for the siblings to stop with it */
		simtime_t saved = p->slice_end;
		p->slice_end = *slice == SIMTIME_NEVER ? SIMTIME_NEVER : s->now + *slice;
		cosched_siblings(s, p, next);
		p->slice_end = saved;
	}
	return next;
}

/* A sibling dispatched by IPI holds its pCPU only while nothing of higher Credit
 * priority waits there (e.g. after accounting made the preempted vCPU UNDER and
 * the sibling OVER): otherwise coscheduling would take time from other VMs that
 * Credit would not give (checked every Credit tick). */
static void recheck_event(struct sim *s, struct event *e)
{
	struct credit *c = credit_of(s);
	struct cosched *x = c->ext;
	sim_at(s, e, s->now + c->tick_ns);
	for (int q = 0; q < s->host.npcpus; q++) {
		struct pcpu *p = &s->host.pcpus[q];
		if (!x->pulled[q] || !p->curr || p->curr->state != VCPU_RUNNING)
			continue;
		struct credit_vcpu *head = c->p[q].rq_head;
		if (head && head->pri > cv(s, p->curr)->pri)
			sim_raise_schedule(s, p);
	}
}

void cosched_sleep(struct sim *s, struct vcpu *v)
{
	credit_sleep(s, v);
	struct vm *vm = v->vm;
	/* a finished VM leaves coscheduled mode */
	if (vm->done_time >= 0 && cs_of(s)->vm[vm->id].on)
		mode_set(s, vm, 0);
}

/* ---- determine (asman): long-wait reports, windows, the learner */

void cosched_long_wait(struct sim *s, struct vcpu *v, uint64_t cycles)
{
	struct cosched *x = cs_of(s);
	if (!x->prm->dynamic)
		return;
	struct cosched_vm *a = &x->vm[v->vm->id];
	a->waits++;
	a->reports++;
	a->reports_on += a->on;
	guest_add_sys(s, v, x->prm->hypercall_ns);
}

static int learner_choose(const struct cosched_params *prm, struct cosched_vm *a)
{
	double total = 0;
	for (int j = 0; j < prm->nholds; j++)
		total += a->prop[j];
	double r = gsl_rng_uniform(a->rng) * total;
	for (int j = 0; j < prm->nholds; j++) {
		r -= a->prop[j];
		if (r < 0)
			return j;
	}
	return prm->nholds - 1;
}

static void learner_reward(const struct cosched_params *prm, struct cosched_vm *a, int chosen,
			   double R)
{
	int n = prm->nholds;
	for (int j = 0; j < n; j++) {
		double e = j == chosen ? R * (1 - prm->experimentation)
				       : (n > 1 ? R * prm->experimentation / (n - 1) : 0);
		a->prop[j] = (1 - prm->recency) * a->prop[j] + e;
		if (a->prop[j] < 1e-6)
			a->prop[j] = 1e-6;   /* keep every hold possible */
	}
}

static void window_event(struct sim *s, struct event *e)
{
	struct cosched *x = cs_of(s);
	const struct cosched_params *prm = x->prm;
	sim_at(s, e, s->now + prm->window_ns);
	for (int i = 0; i < s->nvms; i++) {
		struct vm *vm = &s->vms[i];
		struct cosched_vm *a = &x->vm[i];
		uint64_t w = a->waits;
		a->waits = 0;
		if (vm->done_time >= 0) {
			mode_set(s, vm, 0);
			continue;
		}
		if (a->on) {
			if (--a->hold_left <= 0) {
				mode_set(s, vm, 0);
				a->observing = 1;
				a->obs_quiet = 0;
			}
			continue;
		}
		if (w >= (uint64_t)prm->engage_waits) {
			if (a->observing) {
				int k = prm->holds[a->hold_idx], q = a->obs_quiet;
				learner_reward(prm, a, a->hold_idx, (double)(k + q) / (double)(k + q + 1));
				a->observing = 0;
			}
			a->hold_idx = learner_choose(prm, a);
			a->holds_chosen[a->hold_idx]++;
			a->hold_left = prm->holds[a->hold_idx];
			mode_set(s, vm, 1);
		} else if (a->observing && ++a->obs_quiet >= prm->holds[a->hold_idx]) {
			learner_reward(prm, a, a->hold_idx, 1.0);
			a->observing = 0;
		}
	}
}

/* ---- set-up, checks, results */

void cosched_init(struct sim *s)
{
	const struct cosched_params *prm = s->policy_params;
	credit_init_with(s, &prm->credit);
	struct credit *c = credit_of(s);
	struct cosched *x = xcalloc(1, sizeof *x);
	c->ext = x;
	x->prm = prm;
	int n = s->host.npcpus;
	x->vm = xcalloc((size_t)s->nvms, sizeof *x->vm);
	x->ipi = xcalloc((size_t)n, sizeof *x->ipi);
	x->target = xcalloc((size_t)n, sizeof *x->target);
	x->until = xcalloc((size_t)n, sizeof *x->until);
	x->bar = xcalloc((size_t)n, sizeof *x->bar);
	x->targeted = xcalloc((size_t)s->nvcpus, sizeof *x->targeted);
	x->used = bitmap_alloc(n);
	x->pulled = xcalloc((size_t)n, 1);
	for (int i = 0; i < s->nvcpus; i++)
		x->targeted[i] = -1;
	for (int q = 0; q < n; q++)
		event_init(&x->ipi[q], ipi_arrive, &s->host.pcpus[q], EV_POLICY);
	for (int i = 0; i < s->nvms; i++) {
		struct cosched_vm *a = &x->vm[i];
		for (int j = 0; j < prm->nholds; j++)
			a->prop[j] = 1.0;
		if (prm->dynamic)
			a->rng = rng_stream(s->sc->seed, RNG_POLICY, (uint64_t)i);
		else if (s->vms[i].concurrent && s->vms[i].nvcpus > 1)
			mode_set(s, &s->vms[i], 1);
	}
	event_init(&x->recheck, recheck_event, x, EV_POLICY);
	sim_at(s, &x->recheck, c->tick_ns);
	if (prm->dynamic) {
		event_init(&x->window, window_event, x, EV_POLICY);
		sim_at(s, &x->window, prm->window_ns);
	}
}

void cosched_destroy(struct sim *s)
{
	struct credit *c = credit_of(s);
	if (!c)
		return;
	struct cosched *x = c->ext;
	if (x) {
		for (int i = 0; i < s->nvms; i++)
			if (x->vm[i].rng)
				gsl_rng_free(x->vm[i].rng);
		free(x->vm);
		free(x->ipi);
		free(x->target);
		free(x->until);
		free(x->bar);
		free(x->targeted);
		free(x->used);
		free(x->pulled);
		free(x);
	}
	credit_destroy(s);
}

void cosched_check(struct sim *s)
{
	credit_check(s);
	struct cosched *x = cs_of(s);
	for (int i = 0; i < s->nvms; i++) {
		struct vm *vm = &s->vms[i];
		if (x->vm[i].on && !(x->prm->dynamic ? x->vm[i].reports > 0 : vm->concurrent))
			sim_invariant_failed(s, "%s: VM %s is coscheduled without cause", s->ops->name,
					     vm->name);
	}
	for (int q = 0; q < s->host.npcpus; q++) {
		struct vcpu *u = x->target[q];
		if (!u)
			continue;
		if (x->targeted[u->id] != q)
			sim_invariant_failed(s, "%s: IPI to pCPU %d for %s.%d is not recorded", s->ops->name,
					     q, u->vm->name, u->idx);
	}
	for (int i = 0; i < s->nvcpus; i++) {
		int q = x->targeted[i];
		if (q >= 0 && x->target[q] != s->vcpus[i])
			sim_invariant_failed(s, "%s: vCPU %s.%d targeted at pCPU %d which targets another",
					     s->ops->name, s->vcpus[i]->vm->name, s->vcpus[i]->idx, q);
	}
}

void cosched_report_vm(struct sim *s, struct vm *vm, cJSON *out)
{
	struct cosched *x = cs_of(s);
	struct cosched_vm *a = &x->vm[vm->id];
	simtime_t total = vm->st.cosched_ns + (a->on ? s->end - a->on_since : 0);
	cJSON_ReplaceItemInObject(out, "cosched_ms", cJSON_CreateNumber(simtime_ms(total)));
	if (!x->prm->dynamic)
		return;
	cJSON *h = cJSON_AddObjectToObject(out, "asman");
	cJSON_AddNumberToObject(h, "reports", (double)a->reports);
	cJSON_AddNumberToObject(h, "reports_coscheduled", (double)a->reports_on);
	cJSON *ch = cJSON_AddArrayToObject(h, "holds_chosen");
	cJSON *pr = cJSON_AddArrayToObject(h, "hold_probability");
	double tot = 0;
	for (int j = 0; j < x->prm->nholds; j++)
		tot += a->prop[j];
	for (int j = 0; j < x->prm->nholds; j++) {
		cJSON_AddItemToArray(ch, cJSON_CreateNumber((double)a->holds_chosen[j]));
		cJSON_AddItemToArray(pr, cJSON_CreateNumber(a->prop[j] / tot));
	}
}
