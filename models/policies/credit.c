/* credit.c: the Xen 4.0 Credit scheduler (docs/xen-credit.md, read off
 * xen/common/sched_credit.c, schedule.c and timer.c at RELEASE-4.0.0).
 *
 * What it does: proportional share by weight with optional caps. Credits (1 credit
 * = 0.1 ms of CPU) are handed out every accounting period (30 ms) to the vCPUs that
 * have been seen running, and burnt by the CPU time they use. Each pCPU has its
 * own runqueue ordered BOOST > UNDER > OVER, FIFO within a priority; a waking
 * UNDER vCPU is BOOSTed and preempts a lower-priority runner. A pCPU whose best
 * local vCPU is OVER (or that is idle) steals higher-priority work from the
 * others; idle pCPUs do not poll, they are tickled by wake-ups.
 *
 * Invariants kept (checked by credit_check under --check):
 *  - a runnable vCPU that is not running, parked or migrating is on exactly one
 *    runqueue; a running or blocked vCPU is on none;
 *  - a pCPU is in `idlers` iff it runs nothing;
 *  - after accounting, credit is in [-credits_per_tslice, credits_per_tslice].
 *
 * Interpretations (documented in docs/policies.md): a capped vCPU that is parked
 * still counts as runnable for the host's idle_with_runnable_ms; the scheduler
 * lock's trylock failures during stealing are not modelled (stealing always
 * succeeds in taking the peer's lock). */
#include "models/policies/credit.h"
#include <stdlib.h>
#include <string.h>
#include "sim/xalloc.h"

#define CREDITS_PER_MSEC 10

static const char *const credit_keys[] = { "policy", "timeslice_ms", "ratelimit_us", "boost",
					   "boost_on_migrate", "halve_on_clip", "burn", NULL };

void *credit_parse_params(struct jp *jp, const cJSON *sched, const char *path,
			  const char *const *extra_keys)
{
	struct credit_params *p = xcalloc(1, sizeof *p);
	const char *keys[64];
	int n = 0;
	for (int i = 0; credit_keys[i]; i++)
		keys[n++] = credit_keys[i];
	for (int i = 0; extra_keys && extra_keys[i] && n < 63; i++)
		keys[n++] = extra_keys[i];
	keys[n] = NULL;
	jp_only_keys(jp, sched, path, keys);
	p->timeslice_ms = (int)jp_int(jp, sched, path, "timeslice_ms", 30, 1, 1000);
	p->ratelimit_us = (int)jp_int(jp, sched, path, "ratelimit_us", 0, 0, 500000);
	p->boost = jp_bool(jp, sched, path, "boost", 1);
	p->boost_on_migrate = jp_bool(jp, sched, path, "boost_on_migrate", 1);
	p->halve_on_clip = jp_bool(jp, sched, path, "halve_on_clip", 0);
	static const char *const burns[] = { "exact", "sample", NULL };
	p->sample_burn = jp_enum(jp, sched, path, "burn", burns, 0);
	return p;
}

static void *parse(struct jp *jp, const cJSON *sched, const char *path)
{
	return credit_parse_params(jp, sched, path, NULL);
}

/* ---- runqueues: priority order, FIFO within a priority (__runq_insert) */

static struct credit_vcpu *cv_of(struct credit *c, const struct vcpu *v) { return &c->v[v->id]; }

/* The queued and head_hi maps only let stealing skip peers that cannot give
 * anything (an empty runqueue, or an OVER head for an OVER stealer, since Xen's
 * scan stops at the first entry not above the stealer's priority): the peers
 * visited and their order are Xen's. */
static void update_head(struct credit *c, int cpu)
{
	struct credit_vcpu *h = c->p[cpu].rq_head;
	if (h)
		bitmap_set(c->queued, cpu);
	else
		bitmap_clear(c->queued, cpu);
	if (h && h->pri > PRI_OVER)
		bitmap_set(c->head_hi, cpu);
	else
		bitmap_clear(c->head_hi, cpu);
}

void credit_runq_insert(struct sim *s, int cpu, struct credit_vcpu *cv)
{
	struct credit *c = credit_of(s);
	struct credit_pcpu *q = &c->p[cpu];
	struct credit_vcpu *at = q->rq_head;
	while (at && at->pri >= cv->pri)
		at = at->rq_next;
	/* insert before `at` (NULL: at the tail) */
	cv->rq_next = at;
	cv->rq_prev = at ? at->rq_prev : q->rq_tail;
	if (cv->rq_prev)
		cv->rq_prev->rq_next = cv;
	else
		q->rq_head = cv;
	if (at)
		at->rq_prev = cv;
	else
		q->rq_tail = cv;
	cv->on_runq = 1;
	cv->rq_cpu = cpu;
	update_head(c, cpu);
}

void credit_runq_remove(struct sim *s, struct credit_vcpu *cv)
{
	struct credit *c = credit_of(s);
	struct credit_pcpu *q = &c->p[cv->rq_cpu];
	if (cv->rq_prev)
		cv->rq_prev->rq_next = cv->rq_next;
	else
		q->rq_head = cv->rq_next;
	if (cv->rq_next)
		cv->rq_next->rq_prev = cv->rq_prev;
	else
		q->rq_tail = cv->rq_prev;
	cv->rq_prev = cv->rq_next = NULL;
	cv->on_runq = 0;
	update_head(c, cv->rq_cpu);
}

/* csched_runq_sort: BOOST/UNDER ahead of OVER, relative order kept; at most once
 * per accounting period per pCPU. */
static void runq_sort(struct credit *c, int cpu)
{
	struct credit_pcpu *q = &c->p[cpu];
	if (q->runq_sort_last == c->runq_sort)
		return;
	q->runq_sort_last = c->runq_sort;
	struct credit_vcpu *under = NULL, *under_tail = NULL, *over = NULL, *over_tail = NULL;
	for (struct credit_vcpu *e = q->rq_head, *n; e; e = n) {
		n = e->rq_next;
		struct credit_vcpu **h = e->pri >= PRI_UNDER ? &under : &over;
		struct credit_vcpu **t = e->pri >= PRI_UNDER ? &under_tail : &over_tail;
		e->rq_prev = *t;
		e->rq_next = NULL;
		if (*t)
			(*t)->rq_next = e;
		else
			*h = e;
		*t = e;
	}
	if (under_tail) {
		under_tail->rq_next = over;
		if (over)
			over->rq_prev = under_tail;
		q->rq_head = under;
		q->rq_tail = over_tail ? over_tail : under_tail;
	} else {
		q->rq_head = over;
		q->rq_tail = over_tail;
	}
	update_head(c, cpu);
}

/* ---- credit burn (burn_credits, 4.0): round to the nearest credit, carry the rest */

void credit_burn(struct sim *s, struct credit_vcpu *cv)
{
	struct credit *c = credit_of(s);
	if (c->prm.sample_burn)
		return;
	simtime_t delta = s->now - cv->start_time;
	if (delta <= 0)
		return;
	int64_t credits = (delta * CREDITS_PER_MSEC + NS_PER_MS / 2) / NS_PER_MS;
	cv->credit -= (int)credits;
	cv->start_time += credits * NS_PER_MS / CREDITS_PER_MSEC;
}

/* ---- active set */

static void acct_start(struct credit *c, struct credit_vcpu *cv)
{
	struct credit_dom *d = &c->d[cv->v->vm->id];
	if (cv->active)
		return;
	cv->active = 1;
	cv->clipped = 0;
	cv->act_prev = NULL;
	cv->act_next = d->act_head;
	if (d->act_head)
		d->act_head->act_prev = cv;
	d->act_head = cv;
	d->active_vcpus++;
	if (!d->active) {
		d->active = 1;
		d->prev = NULL;
		d->next = c->active_doms;
		if (c->active_doms)
			c->active_doms->prev = d;
		c->active_doms = d;
		c->weight_total += d->vm->weight;
	}
}

static void dom_unlink(struct credit *c, struct credit_dom *d)
{
	if (d->prev)
		d->prev->next = d->next;
	else
		c->active_doms = d->next;
	if (d->next)
		d->next->prev = d->prev;
	d->prev = d->next = NULL;
}

static void acct_stop(struct credit *c, struct credit_vcpu *cv)
{
	struct credit_dom *d = &c->d[cv->v->vm->id];
	if (!cv->active)
		return;
	cv->active = 0;
	if (cv->act_prev)
		cv->act_prev->act_next = cv->act_next;
	else
		d->act_head = cv->act_next;
	if (cv->act_next)
		cv->act_next->act_prev = cv->act_prev;
	cv->act_prev = cv->act_next = NULL;
	if (--d->active_vcpus == 0) {
		d->active = 0;
		dom_unlink(c, d);
		c->weight_total -= d->vm->weight;
	}
}

/* ---- placement (_csched_cpu_pick, 4.0): prefer an idle pCPU, spreading to idle
 * cores before SMT siblings and to idle sockets before busy ones. The vCPU's own
 * pCPU counts as idle. */

static int cpu_pick(struct sim *s, struct vcpu *v)
{
	struct credit *c = credit_of(s);
	int n = s->host.npcpus, w = bitmap_words(n);
	bitword_t *cpus = c->scratch, *idlers = c->scratch2;
	int cpu = bitmap_test(v->affinity, v->processor) ? v->processor
							 : bitmap_cycle(v->affinity, n, v->processor);
	memcpy(idlers, c->idlers, (size_t)w * sizeof *idlers);
	bitmap_set(idlers, cpu);
	for (int i = 0; i < w; i++)
		cpus[i] = v->affinity[i] & idlers[i] & (c->avail ? c->avail[i] : ~(bitword_t)0);
	bitmap_clear(cpus, cpu);
	while (!bitmap_empty(cpus, n)) {
		int nxt = bitmap_cycle(cpus, n, cpu);
		const struct pcpu *pc = &s->host.pcpus[cpu], *pn = &s->host.pcpus[nxt];
		const bitword_t *gc, *gn;
		if (pc->socket == pn->socket) {
			gc = pc->sibling_map;
			gn = pn->sibling_map;
		} else {
			gc = pc->core_map;
			gn = pn->core_map;
		}
		int wc = bitmap_count_and(idlers, gc, n), wn = bitmap_count_and(idlers, gn, n);
		if (wc < wn) {
			cpu = nxt;
			bitmap_clear(cpus, cpu);
		} else {
			for (int i = 0; i < w; i++)
				cpus[i] &= ~(idlers[i] & gn[i]);
		}
	}
	return cpu;
}

/* ---- wake-up and tickling */

void credit_tickle(struct sim *s, int cpu, struct credit_vcpu *cv)
{
	struct credit *c = credit_of(s);
	struct pcpu *p = &s->host.pcpus[cpu];
	int cur_pri = p->curr ? cv_of(c, p->curr)->pri : PRI_IDLE;
	if (cv->pri > cur_pri)
		sim_raise_schedule(s, p);
	/* a busy pCPU with queued work: tickle the idlers the vCPU may run on */
	if (cur_pri > PRI_IDLE) {
		int n = s->host.npcpus;
		for (int w = 0; w < bitmap_words(n); w++) {
			bitword_t m = c->idlers[w] & cv->v->affinity[w] & (c->avail ? c->avail[w] : ~(bitword_t)0);
			while (m) {
				int i = w * 64 + __builtin_ctzll(m);
				m &= m - 1;
				sim_raise_schedule(s, &s->host.pcpus[i]);
			}
		}
	}
}

void credit_wake(struct sim *s, struct vcpu *v)
{
	struct credit *c = credit_of(s);
	struct credit_vcpu *cv = cv_of(c, v);
	if (v->running_on || cv->on_runq || cv->parked || cv->foreign)
		return;
	if (c->prm.boost && cv->pri == PRI_UNDER)
		cv->pri = PRI_BOOST;
	if (c->place)
		v->processor = c->place(s, v, v->processor, NULL, -1);
	credit_runq_insert(s, v->processor, cv);
	credit_tickle(s, v->processor, cv);
}

void credit_sleep(struct sim *s, struct vcpu *v)
{
	struct credit_vcpu *cv = cv_of(credit_of(s), v);
	if (cv->foreign)
		return;
	if (v->running_on)
		sim_raise_schedule(s, v->running_on);
	else if (cv->on_runq)
		credit_runq_remove(s, cv);
}

/* ---- parking of capped vCPUs (vcpu_pause_nosync / vcpu_unpause) */

void credit_park(struct sim *s, struct credit_vcpu *cv)
{
	cv->parked = 1;
	if (cv->v->running_on)
		sim_raise_schedule(s, cv->v->running_on);
	else if (cv->on_runq)
		credit_runq_remove(s, cv);
}

void credit_unpark(struct sim *s, struct credit_vcpu *cv)
{
	/* Xen clears the flag after the unpause so the wake-up is not boosted */
	struct vcpu *v = cv->v;
	struct credit *c = credit_of(s);
	if (v->state == VCPU_RUNNABLE && !v->running_on && !cv->on_runq) {
		if (c->place)
			v->processor = c->place(s, v, v->processor, NULL, -1);
		credit_runq_insert(s, v->processor, cv);
		credit_tickle(s, v->processor, cv);
	}
	cv->parked = 0;
}

/* ---- accounting (csched_acct, 4.0), every accounting period on one pCPU */

static int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }

static void acct_event(struct sim *s, struct event *e)
{
	struct credit *c = credit_of(s);
	int64_t weight_total = c->weight_total;
	int64_t credit_total = (int64_t)c->credits_per_acct * s->host.npcpus;
	/* csched_acct re-arms the master ticker from NOW() (sched_credit.c, 4.0:
	 * set_timer(&master_ticker, NOW() + 30 ms)), and the timer fires late by the
	 * host's timer lateness: the phase between accounting, ticks and slice ends
	 * drifts as on a real host instead of staying frozen */
	sim_at(s, &c->acct, s->now + c->tslice_ns + sim_timer_late(s, &s->host.pcpus[0]));
	if (c->credit_balance < 0)
		credit_total -= c->credit_balance;
	if (weight_total == 0) {
		c->credit_balance = 0;
		c->runq_sort++;
		return;
	}
	int64_t weight_left = weight_total;
	int64_t balance = 0;
	int xtra = 0;
	for (struct credit_dom *d = c->active_doms, *dn; d; d = dn) {
		dn = d->next;
		struct vm *vm = d->vm;
		weight_left -= vm->weight;
		int64_t peak = (int64_t)d->active_vcpus * c->credits_per_acct;
		if (c->credit_balance < 0)
			peak += ceil_div(-(int64_t)c->credit_balance * vm->weight, weight_total);
		int64_t credit_cap = 0;
		if (vm->cap) {
			credit_cap = ceil_div((int64_t)vm->cap * c->credits_per_acct, 100);
			if (credit_cap < peak)
				peak = credit_cap;
			credit_cap = ceil_div(credit_cap, d->active_vcpus);
		}
		int64_t fair = ceil_div(credit_total * vm->weight, weight_total);
		if (fair < peak) {
			xtra = 1;
		} else {
			if (weight_left)
				credit_total += ceil_div((fair - peak) * weight_total, weight_left);
			if (xtra && d != c->active_doms) {
				/* keep domains with spare credit at the head (lazily) */
				dom_unlink(c, d);
				d->next = c->active_doms;
				c->active_doms->prev = d;
				c->active_doms = d;
			}
			fair = peak;
		}
		int64_t per_vcpu = ceil_div(fair, d->active_vcpus);
		for (struct credit_vcpu *cv = d->act_head, *cn; cv; cv = cn) {
			cn = cv->act_next;
			cv->credit += (int)per_vcpu;
			cv->clipped = 1;
			if (cv->credit < 0) {
				cv->pri = PRI_OVER;
				if (vm->cap && cv->credit < -credit_cap && !cv->parked)
					credit_park(s, cv);
				if (cv->credit < -c->credits_per_tslice)
					cv->credit = -c->credits_per_tslice;
			} else {
				cv->pri = PRI_UNDER;
				/* only caps park in Credit itself; a derived policy
				 * that parks for its own reasons (relaxed's co-stop)
				 * unparks itself */
				if (cv->parked && vm->cap)
					credit_unpark(s, cv);
				if (cv->credit > c->credits_per_tslice) {
					acct_stop(c, cv);
					cv->credit = c->prm.halve_on_clip ? cv->credit / 2 : 0;
				}
			}
			balance += cv->credit;
		}
	}
	c->credit_balance = (int)balance;
	c->runq_sort++;
	for (int i = 0; i < s->host.npcpus; i++)
		update_head(c, i);   /* priorities of queued vCPUs changed */
}

/* ---- the tick (csched_tick / csched_vcpu_acct), every tick on every pCPU */

static void tick_event(struct sim *s, struct event *e)
{
	struct credit *c = credit_of(s);
	struct pcpu *p = e->owner;
	/* csched_tick: set_timer(&spc->ticker, NOW() + 10 ms), late by the host's
	 * timer lateness (see acct_event) */
	sim_at(s, e, s->now + c->tick_ns + sim_timer_late(s, p));
	struct vcpu *v = p->curr;
	if (v && v->state == VCPU_RUNNING && !cv_of(c, v)->foreign) {
		struct credit_vcpu *cv = cv_of(c, v);
		if (cv->pri == PRI_BOOST)
			cv->pri = PRI_UNDER;
		if (c->prm.sample_burn)
			cv->credit -= c->credits_per_tslice / 3;
		else
			credit_burn(s, cv);
		if (!cv->active) {
			acct_start(c, cv);
		} else if (!cv->migrating && cpu_pick(s, v) != p->id) {
			cv->migrating = 1;
			sim_raise_schedule(s, p);
		}
	}
	runq_sort(c, p->id);
}

/* ---- schedule (csched_schedule + csched_load_balance + csched_runq_steal) */

static struct credit_vcpu *steal(struct sim *s, int cpu, int pri)
{
	struct credit *c = credit_of(s);
	int n = s->host.npcpus;
	/* peers that run something and have queued work, from cpu+1 round */
	const bitword_t *candidates = pri == PRI_OVER ? c->head_hi : c->queued;
	/* an idle peer is about to take its work itself: skip the idlers (Xen skips
	 * peers in prv->idlers), a word at a time, since with host activity many
	 * idle pCPUs hold work while their own decision waits */
	int w = bitmap_words(n);
	bitword_t *scan = c->scratch;
	for (int i = 0; i < w; i++)
		scan[i] = candidates[i] & ~(c->idlers[i] & (c->avail ? c->avail[i] : ~(bitword_t)0));
	for (int k = 0, peer = cpu; k < n; k++) {
		peer = bitmap_cycle(scan, n, peer);
		if (peer < 0 || peer == cpu)
			break;
		for (struct credit_vcpu *e = c->p[peer].rq_head; e; e = e->rq_next) {
			if (e->pri <= pri)
				break;
			if (!e->v->running_on && !e->migrating && bitmap_test(e->v->affinity, cpu) &&
			    (!c->may_steal || c->may_steal(s, e->v, cpu))) {
				credit_runq_remove(s, e);
				e->v->processor = cpu;
				return e;
			}
		}
	}
	return NULL;
}

static void migrate_after_switch(struct sim *s, struct credit_vcpu *cv,
				 const struct vcpu *incoming, int incoming_cpu)
{
	/* vcpu_migrate: pick a pCPU, then vcpu_wake there */
	struct credit *c = credit_of(s);
	struct vcpu *v = cv->v;
	cv->migrating = 0;
	int cpu = cpu_pick(s, v);
	if (c->place)
		cpu = c->place(s, v, cpu, incoming, incoming_cpu);
	v->processor = cpu;
	if (c->prm.boost && c->prm.boost_on_migrate && cv->pri == PRI_UNDER && !cv->parked)
		cv->pri = PRI_BOOST;
	credit_runq_insert(s, cpu, cv);
	credit_tickle(s, cpu, cv);
}

struct vcpu *credit_do_schedule(struct sim *s, struct pcpu *p, simtime_t *slice)
{
	struct credit *c = credit_of(s);
	struct vcpu *prev = p->curr;
	struct credit_vcpu *sprev = prev && !cv_of(c, prev)->foreign ? cv_of(c, prev) : NULL;
	int prev_runnable = sprev && prev->state == VCPU_RUNNING && !sprev->parked;
	if (sprev)
		credit_burn(s, sprev);
	if (prev_runnable && !sprev->migrating && c->prm.ratelimit_us > 0) {
		simtime_t ran = s->now - p->since;
		simtime_t limit = (simtime_t)c->prm.ratelimit_us * NS_PER_US;
		if (ran < limit) {
			*slice = limit - ran;
			return prev;
		}
	}
	if (prev_runnable && !sprev->migrating)
		credit_runq_insert(s, p->id, sprev);

	struct credit_vcpu *snext = c->p[p->id].rq_head;
	int pri = snext ? snext->pri : PRI_IDLE;
	if (pri > PRI_OVER) {
		credit_runq_remove(s, snext);
	} else {
		struct credit_vcpu *st = steal(s, p->id, pri);
		if (st)
			snext = st;
		else if (snext)
			credit_runq_remove(s, snext);
	}
	if (snext)
		bitmap_clear(c->idlers, p->id);
	else
		bitmap_set(c->idlers, p->id);

	if (sprev && snext != sprev)
		sprev->rem = s->now - sprev->start_time;
	if (snext && snext != sprev)
		snext->start_time = s->now - snext->rem;
	if (prev_runnable && sprev->migrating)
		migrate_after_switch(s, sprev, snext ? snext->v : NULL, p->id);
	else if (sprev)
		sprev->migrating = 0;
	*slice = snext ? c->tslice_ns : SIMTIME_NEVER;
	return snext ? snext->v : NULL;
}

/* ---- set-up */

void credit_init_with(struct sim *s, const struct credit_params *prm)
{
	struct credit *c = xcalloc(1, sizeof *c);
	s->policy = c;
	c->prm = *prm;
	c->tslice_ns = (simtime_t)prm->timeslice_ms * NS_PER_MS;
	c->tick_ns = c->tslice_ns / 3;
	c->credits_per_tslice = CREDITS_PER_MSEC * prm->timeslice_ms;
	c->credits_per_acct = c->credits_per_tslice;
	int n = s->host.npcpus;
	c->v = xcalloc_aligned(_Alignof(struct credit_vcpu), (size_t)s->nvcpus, sizeof *c->v);
	c->d = xcalloc((size_t)s->nvms, sizeof *c->d);
	c->p = xcalloc((size_t)n, sizeof *c->p);
	c->idlers = bitmap_alloc(n);
	c->queued = bitmap_alloc(n);
	c->head_hi = bitmap_alloc(n);
	c->scratch = bitmap_alloc(n);
	c->scratch2 = bitmap_alloc(n);
	bitmap_fill(c->idlers, n);
	for (int i = 0; i < s->nvcpus; i++) {
		c->v[i].v = s->vcpus[i];
		c->v[i].pri = PRI_UNDER;
	}
	for (int i = 0; i < s->nvms; i++)
		c->d[i].vm = &s->vms[i];
	/* csched_start_tickers: every pCPU's ticker and the master's accounting timer
	 * armed at NOW() + one period. With host.activity "off" they stay on one grid
	 * forever and, at a shared instant, accounting runs before the ticks (the
	 * order they were armed in); with a real host's timer lateness they drift
	 * apart, as in Xen, and no instant is shared */
	event_init(&c->acct, acct_event, c, EV_POLICY);
	sim_at(s, &c->acct, c->tslice_ns + sim_timer_late(s, &s->host.pcpus[0]));
	for (int i = 0; i < n; i++) {
		event_init(&c->p[i].tick, tick_event, &s->host.pcpus[i], EV_POLICY);
		sim_at(s, &c->p[i].tick, c->tick_ns + sim_timer_late(s, &s->host.pcpus[i]));
	}
}

static void init(struct sim *s)
{
	credit_init_with(s, s->policy_params);
}

void credit_destroy(struct sim *s)
{
	struct credit *c = credit_of(s);
	if (!c)
		return;
	free(c->v);
	free(c->d);
	free(c->p);
	free(c->idlers);
	free(c->queued);
	free(c->head_hi);
	free(c->scratch);
	free(c->scratch2);
	free(c);
	s->policy = NULL;
}

void credit_check(struct sim *s)
{
	struct credit *c = credit_of(s);
	int queued = 0;
	for (int i = 0; i < s->host.npcpus; i++) {
		struct pcpu *p = &s->host.pcpus[i];
		if (bitmap_test(c->idlers, i) != !p->curr)
			sim_invariant_failed(s, "credit: pCPU %d idler bit disagrees with what it runs", i);
		struct credit_vcpu *prev = NULL;
		for (struct credit_vcpu *e = c->p[i].rq_head; e; prev = e, e = e->rq_next) {
			queued++;
			if (e->rq_prev != prev || e->rq_cpu != i || !e->on_runq)
				sim_invariant_failed(s, "credit: runqueue of pCPU %d is corrupt", i);
			if (e->v->state != VCPU_RUNNABLE || e->v->running_on)
				sim_invariant_failed(s, "credit: vCPU %s.%d queued on pCPU %d but not waiting",
						     e->v->vm->name, e->v->idx, i);
		}
		if (!!c->p[i].rq_head != bitmap_test(c->queued, i) ||
		    (c->p[i].rq_head && c->p[i].rq_head->pri > PRI_OVER) != bitmap_test(c->head_hi, i))
			sim_invariant_failed(s, "credit: queued or head_hi bit of pCPU %d is wrong", i);
	}
	int expected = 0;
	for (int i = 0; i < s->nvcpus; i++) {
		struct credit_vcpu *cv = &c->v[i];
		/* Accounting clips active vCPUs to [-slice, +slice] credits, but a runner's
		 * burn since its last tick (up to a tick's worth) is not yet debited when
		 * accounting runs; then it can burn one more period: floor -(2 slices + 1
		 * tick), plus rounding. An inactive vCPU (one no tick has found running
		 * since it went above the cap, e.g. a short-running I/O vCPU) still burns
		 * but is never clipped, as in Xen 4.0: no floor until an accounting has
		 * clipped it. Credit only grows at accounting: the ceiling is +slice. */
		int floor = -(2 * c->credits_per_tslice + c->credits_per_tslice / 3) - 10;
		if (cv->credit > c->credits_per_tslice || (cv->active && cv->clipped && cv->credit < floor))
			sim_invariant_failed(s, "credit: vCPU %s.%d has %d credits, outside [%d, %d]",
					     cv->v->vm->name, cv->v->idx, cv->credit, floor,
					     c->credits_per_tslice);
		if (cv->v->state == VCPU_RUNNABLE && !cv->v->running_on && !cv->parked && !cv->foreign) {
			expected++;
			if (!cv->on_runq)
				sim_invariant_failed(s, "credit: runnable vCPU %s.%d is on no runqueue",
						     cv->v->vm->name, cv->v->idx);
		}
	}
	if (queued != expected)
		sim_invariant_failed(s, "credit: %d vCPUs queued, %d runnable", queued, expected);
}

const struct sched_ops sched_credit = {
	.name = "credit",
	.summary = "Xen 4.0 Credit: weights, caps, BOOST on wake, 30 ms slices, stealing",
	.source = "xen/common/sched_credit.c (RELEASE-4.0.0); docs/xen-credit.md",
	.parse = parse,
	.free_params = free,
	.init = init,
	.destroy = credit_destroy,
	.wake = credit_wake,
	.sleep = credit_sleep,
	.do_schedule = credit_do_schedule,
	.check = credit_check,
};
