/* gang.c: strict coscheduling. Two policies share this planner:
 *  - `gang` (Ousterhout 1982, without fragments; docs/model.md,
 *    "Policies"): every VM is a gang whose width is its vCPU count;
 *  - `hybrid` (Weng, Wang, Li and Lu, "The hybrid scheduling framework for
 *    virtual machine systems", VEE 2009): only VMs flagged "concurrent": true
 *    with more than one vCPU are gangs; every other VM is scheduled by Xen
 *    Credit (credit.c) on the pCPUs the gangs do not hold.
 *
 * A gang is scheduled as a unit: while scheduled it holds `width` distinct pCPUs,
 * one per vCPU; its vCPUs start and stop together; a blocked member keeps its
 * pCPU idle while the gang holds it (fragmentation). In `gang`, 1-vCPU VMs are
 * gangs of width 1, so they fill pCPUs that no wider gang uses.
 *
 * Decisions are global, like a gang matrix:
 *  - every slice (gang: slice_ms, default 30 = Xen's timeslice; hybrid: Credit's
 *    timeslice_ms) the plan is rebuilt. gang: gangs with a runnable vCPU, in order
 *    of credit (highest first; ties: longest unscheduled, then VM order), are
 *    packed first fit (a gang that does not fit is skipped, smaller ones behind it
 *    may fit). hybrid: gangs with credit > 0 are packed the same way; a gang with
 *    credit <= 0 is packed only into pCPUs that Credit's runnable vCPUs leave
 *    spare (it takes no time Credit's VMs could use);
 *  - between boundaries: a gang with no runnable member left (all blocked) gives
 *    up its pCPUs; a waking member of a scheduled gang runs at once on its
 *    reserved pCPU; gang: freed pCPUs are offered to waiting gangs (first fit);
 *    hybrid: a waking gang may take only idle pCPUs (it never preempts Credit's
 *    vCPUs between boundaries).
 *  The pCPUs whose planned vCPU changed get a scheduling event; do_schedule
 *  returns the planned vCPU if it is runnable, else idle. A vCPU keeps its last
 *  pCPU when it is free; the others take the next free ones (with an affinity:
 *  bipartite matching by augmenting paths).
 *
 * Shares (our design, credit-like accounting per VM, after Xen's csched_acct):
 * a gang's credit is in ns of pCPU time. It is debited width x time while the
 * gang holds its pCPUs (held idle pCPUs included: the gang made them unusable).
 * At each slice boundary the pool npcpus x slice is shared among the active VMs
 * in proportion to their weights, each capped at width x slice (surplus shared
 * again: water-filling). A gang is active while it is scheduled or waits with
 * a runnable vCPU; it leaves the active set when its credit exceeds width x
 * slice while none of its vCPUs is runnable (credit reset to 0, as Xen 4.0 does
 * above 300 credits), so an I/O-bound VM's unused share goes to the others; a
 * runnable gang's credit is clipped to width x slice, and floored at -width x
 * slice. In hybrid, Credit's VMs count with their weight while they have a
 * runnable vCPU or Credit has them active. Caps are not modelled for gangs (a
 * cap on a gang is a scenario error), nor the switch latency of a real gang
 * scheduler (a plan change switches every pCPU at the same instant, which
 * favours the gangs).
 *
 * Invariants (check, after every event under --check):
 *  - the plan is consistent: a scheduled gang holds exactly width distinct
 *    pCPUs allowed by its vCPUs' affinity, an unscheduled one holds none, and
 *    the free-pCPU count matches;
 *  - when no pCPU has a scheduling event pending at the current instant, every
 *    held pCPU runs its planned vCPU if that vCPU is runnable, else nothing; in
 *    hybrid no Credit vCPU runs on a held pCPU and no gang vCPU on another;
 *  - all or none: at those instants each gang of width > 1 has either none of
 *    its vCPUs running or all its runnable ones;
 *  - hybrid: Credit's own invariants (credit_check). */
#include <stdlib.h>
#include <string.h>
#include "models/policies/credit.h"
#include "sim/scenario.h"
#include "sim/sim.h"
#include "sim/trace.h"
#include "sim/xalloc.h"

struct gang_params {
	struct credit_params credit;   /* hybrid: Credit's parameters */
	int hybrid;
	simtime_t slice_ns;
};

struct gvm {
	struct vm *vm;
	int width;
	int is_gang;             /* gang: always; hybrid: concurrent and width > 1 */
	int scheduled;
	int *pc;                 /* per member: planned pCPU, -1 when unscheduled */
	int64_t credit;          /* ns of pCPU time */
	int active;              /* in the accounting (Xen's active set) */
	int held;                /* pCPUs held now */
	simtime_t burn_since;
	simtime_t last_sched;    /* when it was last scheduled (tie-break) */
	simtime_t sched_ns;      /* time holding its pCPUs */
	simtime_t sched_since;
};

struct gkey {
	int64_t credit;
	simtime_t last_sched;
	int id;
};

struct gang {
	int hybrid;
	simtime_t slice_ns;
	struct gvm *g;
	int *owner;              /* per pCPU: VM id, -1 = free */
	int *member;             /* per pCPU: member index */
	int nfree;
	bitword_t *avail;        /* pCPUs not held by gangs (hybrid: Credit's c->avail) */
	char *lent;              /* hybrid: per pCPU, held by a gang at the last sync */
	int *dirty;              /* pCPUs to look at in the next sync */
	char *is_dirty;
	int ndirty;
	char *full_aff;          /* per VM: every vCPU may run on every pCPU */
	struct event slice;
	int *share;              /* scratch: per VM accounting state */
	int *match_of;           /* scratch: per pCPU, member index in the matching or -1 */
	int *seen;               /* scratch: per pCPU, visit stamp */
	int stamp;
	int *tmp_pc;             /* scratch: per member */
	int *pref;               /* scratch: per member */
	const bitword_t **aff;   /* scratch: per member */
	int *can;                /* scratch: per pCPU */
	struct gkey *keys;       /* scratch: per VM */
};

extern const struct sched_ops sched_hybrid;

static struct gang *gang_of(struct sim *s)
{
	return s->ops == &sched_hybrid ? credit_of(s)->ext : s->policy;
}

static int is_foreign(struct sim *s, const struct vcpu *v)
{
	return gang_of(s)->g[v->vm->id].is_gang;
}

/* ---- parameters and validation */

static void *parse_gang(struct jp *jp, const cJSON *sched, const char *path)
{
	static const char *const keys[] = { "policy", "slice_ms", NULL };
	struct gang_params *p = xcalloc(1, sizeof *p);
	jp_only_keys(jp, sched, path, keys);
	p->slice_ns = (simtime_t)(jp_num(jp, sched, path, "slice_ms", 30, 0.1, 1e6) * NS_PER_MS);
	return p;
}

static void *parse_hybrid(struct jp *jp, const cJSON *sched, const char *path)
{
	struct credit_params *cp = credit_parse_params(jp, sched, path, NULL);
	struct gang_params *p = xcalloc(1, sizeof *p);
	p->credit = *cp;
	free(cp);
	p->hybrid = 1;
	p->slice_ns = (simtime_t)p->credit.timeslice_ms * NS_PER_MS;
	return p;
}

/* Bipartite matching of a VM's members to allowed pCPUs (Kuhn's augmenting
 * paths): member i may use pCPU q iff avail[q] and q is in aff[i]. */
struct matcher {
	int n, w;
	const bitword_t *const *aff;   /* per member */
	const int *avail;              /* per pCPU */
	int *match_of;                 /* per pCPU: member or -1 */
	int *seen;                     /* per pCPU: visit stamp */
	int stamp;
	int *pc;                       /* per member: pCPU or -1 */
};

static int augment(struct matcher *m, int i, int first)
{
	for (int k = 0; k < m->n; k++) {
		int q = (first + k) % m->n;
		if (!m->avail[q] || !bitmap_test(m->aff[i], q) || m->seen[q] == m->stamp)
			continue;
		m->seen[q] = m->stamp;
		if (m->match_of[q] < 0 || augment(m, m->match_of[q], 0)) {
			m->match_of[q] = i;
			m->pc[i] = q;
			return 1;
		}
	}
	return 0;
}

/* Each member first takes pref[i] (if >= 0 and free), the others are matched by
 * augmenting paths scanning from their preference. Returns 1 if all matched. */
static int match(struct matcher *m, const int *pref)
{
	for (int q = 0; q < m->n; q++)
		m->match_of[q] = -1;
	for (int i = 0; i < m->w; i++)
		m->pc[i] = -1;
	for (int i = 0; i < m->w; i++) {
		int q = pref ? pref[i] : -1;
		if (q >= 0 && m->avail[q] && bitmap_test(m->aff[i], q) && m->match_of[q] < 0) {
			m->match_of[q] = i;
			m->pc[i] = q;
		}
	}
	for (int i = 0; i < m->w; i++) {
		if (m->pc[i] >= 0)
			continue;
		m->stamp++;
		if (!augment(m, i, pref && pref[i] >= 0 ? pref[i] : 0))
			return 0;
	}
	return 1;
}

static void validate(struct jp *jp, const struct scenario *sc, const void *params)
{
	const struct gang_params *prm = params;
	const char *pol = prm->hybrid ? "hybrid" : "gang";
	int n = sc->npcpus;
	for (int i = 0; i < sc->nvms && !jp->failed; i++) {
		const struct vm_config *c = &sc->vms[i];
		char path[JP_PATH_MAX];
		if (prm->hybrid && !(c->concurrent && c->vcpus > 1))
			continue;   /* scheduled by Credit */
		if (c->cap) {
			snprintf(path, sizeof path, "vms[%d].cap", c->index);
			jp_fail(jp, path, "policy %s does not model caps for its gangs (VM %s): expected 0 or no cap",
				pol, c->name);
			return;
		}
		snprintf(path, sizeof path, "vms[%d].vcpus", c->index);
		if (c->vcpus > n) {
			jp_fail(jp, path, "policy %s runs a VM's vCPUs at once on distinct pCPUs: VM %s has %d vCPUs but the host has %d pCPUs",
				pol, c->name, c->vcpus, n);
			return;
		}
		if (!c->affinity)
			continue;
		bitword_t **aff = xcalloc((size_t)c->vcpus, sizeof *aff);
		int *avail = xcalloc((size_t)n, sizeof *avail), *mo = xcalloc((size_t)n, sizeof *mo);
		int *seen = xcalloc((size_t)n, sizeof *seen), *pc = xcalloc((size_t)c->vcpus, sizeof *pc);
		for (int k = 0; k < c->vcpus; k++) {
			aff[k] = bitmap_alloc(n);
			for (int q = 0; q < n; q++)
				if (c->affinity[k * n + q])
					bitmap_set(aff[k], q);
		}
		for (int q = 0; q < n; q++)
			avail[q] = 1;
		struct matcher m = { n, c->vcpus, (const bitword_t *const *)aff, avail, mo, seen, 0, pc };
		if (!match(&m, NULL)) {
			snprintf(path, sizeof path, "vms[%d].affinity", c->index);
			jp_fail(jp, path, "policy %s needs distinct pCPUs for the %d vCPUs of VM %s, which its affinity does not allow",
				pol, c->vcpus, c->name);
		}
		for (int k = 0; k < c->vcpus; k++)
			free(aff[k]);
		free(aff);
		free(avail);
		free(mo);
		free(seen);
		free(pc);
	}
}

/* ---- accounting */

static void burn(struct sim *s, struct gvm *g)
{
	if (g->held)
		g->credit -= (int64_t)g->held * (s->now - g->burn_since);
	g->burn_since = s->now;
}

static int runnable_members(const struct gvm *g)
{
	int k = 0;
	for (int i = 0; i < g->width; i++)
		k += g->vm->vcpus[i].state != VCPU_BLOCKED;
	return k;
}

static void accounting(struct sim *s)
{
	struct gang *G = gang_of(s);
	int64_t pool = (int64_t)s->host.npcpus * G->slice_ns;
	int64_t wleft = 0;
	for (int i = 0; i < s->nvms; i++) {
		struct gvm *g = &G->g[i];
		int waiting = g->is_gang && !g->scheduled && runnable_members(g) > 0;
		if (waiting)
			g->active = 1;   /* it wants pCPUs: it earns while it waits */
		/* a Credit VM counts while it wants CPU or Credit has it active */
		int act = g->is_gang ? g->active
				     : runnable_members(g) > 0 || credit_of(s)->d[i].active;
		G->share[i] = act;   /* 1 = to be given its share, 2 = given its peak */
		if (act)
			wleft += g->vm->weight;
	}
	/* water-filling: a VM whose fair share exceeds its peak gets the peak and
	 * the rest is shared again among the others */
	int changed = 1;
	while (changed && wleft > 0) {
		changed = 0;
		for (int i = 0; i < s->nvms; i++) {
			struct gvm *g = &G->g[i];
			int64_t peak = (int64_t)g->width * G->slice_ns;
			if (G->share[i] != 1 || (double)pool * g->vm->weight / (double)wleft < (double)peak)
				continue;
			if (g->is_gang)
				g->credit += peak;
			pool -= peak;
			wleft -= g->vm->weight;
			G->share[i] = 2;
			changed = 1;
		}
	}
	for (int i = 0; i < s->nvms; i++) {
		struct gvm *g = &G->g[i];
		if (!g->is_gang || !G->share[i])
			continue;
		if (G->share[i] == 1)
			g->credit += (int64_t)((double)pool * g->vm->weight / (double)wleft);
		int64_t lim = (int64_t)g->width * G->slice_ns;
		if (g->credit < -lim)
			g->credit = -lim;
		if (g->credit > lim) {
			if (runnable_members(g) > 0) {
				g->credit = lim;
			} else {
				g->active = 0;   /* idle with a full purse: its share goes to others */
				g->credit = 0;
			}
		}
	}
}

/* ---- the plan */

static void mark(struct gang *G, int q)
{
	if (!G->is_dirty[q]) {
		G->is_dirty[q] = 1;
		G->dirty[G->ndirty++] = q;
	}
}

static void unschedule(struct sim *s, struct gvm *g)
{
	struct gang *G = gang_of(s);
	if (!g->scheduled)
		return;
	burn(s, g);
	g->sched_ns += s->now - g->sched_since;
	if (s->trace && g->width > 1)
		trace_vm_end(s->trace, s, g->vm);
	for (int i = 0; i < g->width; i++) {
		G->owner[g->pc[i]] = -1;
		bitmap_set(G->avail, g->pc[i]);
		mark(G, g->pc[i]);
		g->pc[i] = -1;
	}
	G->nfree += g->width;
	g->held = 0;
	g->scheduled = 0;
}

/* Tries to give g distinct free pCPUs (only idle ones if idle_only); returns 1
 * if scheduled. */
static int try_schedule(struct sim *s, struct gvm *g, int idle_only)
{
	struct gang *G = gang_of(s);
	int n = s->host.npcpus;
	if (g->width > G->nfree)
		return 0;
	if (G->full_aff[g->vm->id] && !idle_only) {
		/* fast path, no affinity: each member takes its last pCPU if free, the
		 * others the next free ones; width <= nfree guarantees success */
		for (int i = 0; i < g->width; i++) {
			const struct vcpu *v = &g->vm->vcpus[i];
			int q = v->running_on ? v->running_on->id : v->processor;
			G->tmp_pc[i] = -1;
			if (bitmap_test(G->avail, q)) {
				G->tmp_pc[i] = q;
				bitmap_clear(G->avail, q);
			}
		}
		for (int i = 0; i < g->width; i++) {
			if (G->tmp_pc[i] >= 0)
				continue;
			int q = bitmap_cycle(G->avail, n, g->vm->vcpus[i].processor);
			G->tmp_pc[i] = q;
			bitmap_clear(G->avail, q);
		}
		goto take;
	}
	for (int q = 0; q < n; q++) {
		const struct vcpu *c = s->host.pcpus[q].curr;
		G->can[q] = G->owner[q] < 0 && (!idle_only || !c || c->vm == g->vm);
	}
	for (int i = 0; i < g->width; i++) {
		const struct vcpu *v = &g->vm->vcpus[i];
		G->aff[i] = v->affinity;
		/* a running vCPU stays where it runs; others prefer their last pCPU */
		G->pref[i] = v->running_on ? v->running_on->id : v->processor;
	}
	struct matcher m = { n, g->width, G->aff, G->can, G->match_of, G->seen, G->stamp, G->tmp_pc };
	int ok = match(&m, G->pref);
	G->stamp = m.stamp;
	if (!ok)
		return 0;
take:
	for (int i = 0; i < g->width; i++) {
		g->pc[i] = G->tmp_pc[i];
		G->owner[g->pc[i]] = g->vm->id;
		G->member[g->pc[i]] = i;
		bitmap_clear(G->avail, g->pc[i]);
		mark(G, g->pc[i]);
	}
	G->nfree -= g->width;
	burn(s, g);
	g->held = g->width;
	g->scheduled = 1;
	g->active = 1;
	g->last_sched = s->now;
	g->sched_since = s->now;
	if (s->trace && g->width > 1)
		trace_vm_begin(s->trace, s, g->vm, "gang");
	return 1;
}

/* Order of precedence: credit (highest first), then longest unscheduled, then VM
 * order. Sorting plain keys keeps qsort free of shared context. */
static int cmp_keys(const void *x, const void *y)
{
	const struct gkey *a = x, *b = y;
	if (a->credit != b->credit)
		return a->credit > b->credit ? -1 : 1;
	if (a->last_sched != b->last_sched)
		return a->last_sched < b->last_sched ? -1 : 1;
	return a->id - b->id;
}

/* Offers the free pCPUs to waiting gangs, best first, first fit. gang: all of
 * them. hybrid at a boundary: gangs with credit > 0, then the others while they
 * leave Credit enough pCPUs for its runnable vCPUs; hybrid between boundaries:
 * only idle pCPUs, only to gangs with credit > 0. */
static void fill(struct sim *s, int boundary)
{
	struct gang *G = gang_of(s);
	if (G->nfree == 0)
		return;
	int k = 0;
	for (int i = 0; i < s->nvms; i++) {
		struct gvm *g = &G->g[i];
		if (g->is_gang && !g->scheduled && runnable_members(g) > 0) {
			burn(s, g);
			G->keys[k++] = (struct gkey){ g->credit, g->last_sched, i };
		}
	}
	if (k == 0)
		return;
	qsort(G->keys, (size_t)k, sizeof *G->keys, cmp_keys);
	if (!G->hybrid) {
		for (int j = 0; j < k && G->nfree > 0; j++)
			try_schedule(s, &G->g[G->keys[j].id], 0);
		return;
	}
	int credit_runnable = 0;
	for (int i = 0; i < s->nvcpus; i++)
		credit_runnable += !is_foreign(s, s->vcpus[i]) && s->vcpus[i]->state != VCPU_BLOCKED;
	for (int j = 0; j < k && G->nfree > 0; j++) {
		struct gvm *g = &G->g[G->keys[j].id];
		if (g->credit > 0)
			try_schedule(s, g, !boundary);
		else if (boundary && G->nfree - g->width >= credit_runnable)
			try_schedule(s, g, 0);
	}
}

static struct vcpu *planned(struct sim *s, int q)
{
	struct gang *G = gang_of(s);
	if (G->owner[q] < 0)
		return NULL;
	return &G->g[G->owner[q]].vm->vcpus[G->member[q]];
}

static struct vcpu *desired(struct sim *s, int q)
{
	struct vcpu *v = planned(s, q);
	return v && v->state != VCPU_BLOCKED ? v : NULL;
}

/* hybrid: Credit's vCPUs queued on pCPUs now held by gangs move to pCPUs Credit
 * may use (the first allowed one from there on), as Xen's vcpu_migrate would. */
static void evacuate(struct sim *s)
{
	struct gang *G = gang_of(s);
	struct credit *c = credit_of(s);
	int n = s->host.npcpus;
	for (int d = 0; d < G->ndirty; d++) {
		int q = G->dirty[d];
		if (G->owner[q] < 0)
			continue;
		for (struct credit_vcpu *e = c->p[q].rq_head, *nx; e; e = nx) {
			nx = e->rq_next;
			int to = -1;
			for (int k = 1; k <= n && to < 0; k++) {
				int r = (q + k) % n;
				if (bitmap_test(G->avail, r) && bitmap_test(e->v->affinity, r))
					to = r;
			}
			if (to < 0)
				continue;   /* nowhere to go: it waits for this pCPU */
			credit_runq_remove(s, e);
			e->v->processor = to;
			credit_runq_insert(s, to, e);
			credit_tickle(s, to, e);
		}
	}
}

/* Raises a scheduling event on every pCPU touched since the last sync (plan
 * changes, members blocking or waking) that does not run what it should. */
static void sync(struct sim *s)
{
	struct gang *G = gang_of(s);
	for (int d = 0; d < G->ndirty; d++) {
		int q = G->dirty[d];
		struct pcpu *p = &s->host.pcpus[q];
		if (G->owner[q] >= 0 || !G->hybrid) {
			if (p->curr != desired(s, q))
				sim_raise_schedule(s, p);
		} else if ((p->curr && is_foreign(s, p->curr)) || (G->lent[q] && !p->curr)) {
			sim_raise_schedule(s, p);   /* given back to Credit */
		}
		if (G->hybrid)
			G->lent[q] = G->owner[q] >= 0;
	}
	if (G->hybrid)
		evacuate(s);
	for (int d = 0; d < G->ndirty; d++)
		G->is_dirty[G->dirty[d]] = 0;
	G->ndirty = 0;
}

static void slice_event(struct sim *s, struct event *e)
{
	struct gang *G = gang_of(s);
	sim_at(s, e, s->now + G->slice_ns);
	for (int i = 0; i < s->nvms; i++)
		burn(s, &G->g[i]);
	accounting(s);
	for (int i = 0; i < s->nvms; i++)
		unschedule(s, &G->g[i]);
	fill(s, 1);
	sync(s);
}

/* ---- the policy's hooks */

static void wake(struct sim *s, struct vcpu *v)
{
	struct gang *G = gang_of(s);
	struct gvm *g = &G->g[v->vm->id];
	if (!g->is_gang) {
		/* hybrid, a Credit VM: wake it where Credit may run it */
		int n = s->host.npcpus;
		if (!bitmap_test(G->avail, v->processor))
			for (int k = 1; k <= n; k++) {
				int r = (v->processor + k) % n;
				if (bitmap_test(G->avail, r) && bitmap_test(v->affinity, r)) {
					v->processor = r;
					break;
				}
			}
		credit_wake(s, v);
		return;
	}
	if (g->scheduled)
		mark(G, g->pc[v->idx]);
	else
		fill(s, 0);
	if (v->running_on)
		mark(G, v->running_on->id);
	sync(s);
}

static void sleep(struct sim *s, struct vcpu *v)
{
	struct gang *G = gang_of(s);
	struct gvm *g = &G->g[v->vm->id];
	if (!g->is_gang) {
		credit_sleep(s, v);
		return;
	}
	if (g->scheduled)
		mark(G, g->pc[v->idx]);
	if (g->scheduled && runnable_members(g) == 0) {
		/* the whole gang is blocked: it gives up its slot for the rest of the slice */
		unschedule(s, g);
		fill(s, 0);
	}
	if (v->running_on) {
		mark(G, v->running_on->id);
		sim_raise_schedule(s, v->running_on);
	}
	sync(s);
}

/* hybrid: p is held by a gang but runs one of Credit's vCPUs: take it off as
 * credit_do_schedule would (burn, carry the remainder) and queue it where
 * Credit may run it. */
static void credit_yield(struct sim *s, struct pcpu *p, struct vcpu *prev)
{
	struct credit *c = credit_of(s);
	struct gang *G = gang_of(s);
	struct credit_vcpu *cv = &c->v[prev->id];
	int n = s->host.npcpus;
	credit_burn(s, cv);
	cv->rem = s->now - cv->start_time;
	cv->migrating = 0;
	if (prev->state != VCPU_RUNNING || cv->parked)
		return;
	int to = p->id;
	for (int k = 1; k <= n; k++) {
		int r = (p->id + k) % n;
		if (bitmap_test(G->avail, r) && bitmap_test(prev->affinity, r)) {
			to = r;
			break;
		}
	}
	prev->processor = to;
	credit_runq_insert(s, to, cv);
	if (to != p->id)
		credit_tickle(s, to, cv);
}

static struct vcpu *do_schedule(struct sim *s, struct pcpu *p, simtime_t *slice)
{
	struct gang *G = gang_of(s);
	struct vcpu *prev = p->curr;
	if (prev && prev->state != VCPU_BLOCKED && is_foreign(s, prev)) {
		/* prev may be planned on another pCPU, which must reschedule after this */
		struct gvm *g = &G->g[prev->vm->id];
		if (g->scheduled && g->pc[prev->idx] != p->id)
			sim_raise_schedule(s, &s->host.pcpus[g->pc[prev->idx]]);
	}
	if (G->hybrid && G->owner[p->id] < 0)
		return credit_do_schedule(s, p, slice);
	*slice = SIMTIME_NEVER;   /* the global slice timer decides */
	struct vcpu *v = desired(s, p->id);
	if (v && v->running_on && v->running_on != p)
		v = NULL;   /* still on its old pCPU, whose reschedule is pending */
	if (G->hybrid) {
		if (prev && prev != v && !is_foreign(s, prev))
			credit_yield(s, p, prev);
		if (v)
			bitmap_clear(credit_of(s)->idlers, p->id);
		else
			bitmap_set(credit_of(s)->idlers, p->id);
	}
	return v;
}

/* ---- set-up */

static void init(struct sim *s)
{
	const struct gang_params *prm = s->policy_params;
	struct gang *G = xcalloc(1, sizeof *G);
	int n = s->host.npcpus, maxw = 1;
	G->avail = bitmap_alloc(n);
	bitmap_fill(G->avail, n);
	G->dirty = xcalloc((size_t)n, sizeof *G->dirty);
	G->is_dirty = xcalloc((size_t)n, 1);
	G->full_aff = xcalloc((size_t)s->nvms, 1);
	if (prm->hybrid) {
		credit_init_with(s, &prm->credit);
		credit_of(s)->ext = G;
		credit_of(s)->avail = G->avail;
		G->lent = xcalloc((size_t)n, 1);
	} else {
		s->policy = G;
	}
	G->hybrid = prm->hybrid;
	G->slice_ns = prm->slice_ns;
	G->g = xcalloc((size_t)s->nvms, sizeof *G->g);
	G->owner = xcalloc((size_t)n, sizeof *G->owner);
	G->member = xcalloc((size_t)n, sizeof *G->member);
	G->match_of = xcalloc((size_t)n, sizeof *G->match_of);
	G->seen = xcalloc((size_t)n, sizeof *G->seen);
	G->can = xcalloc((size_t)n, sizeof *G->can);
	G->share = xcalloc((size_t)s->nvms, sizeof *G->share);
	G->keys = xcalloc((size_t)s->nvms, sizeof *G->keys);
	for (int q = 0; q < n; q++)
		G->owner[q] = -1;
	G->nfree = n;
	for (int i = 0; i < s->nvms; i++) {
		struct gvm *g = &G->g[i];
		g->vm = &s->vms[i];
		g->width = g->vm->nvcpus;
		g->is_gang = !prm->hybrid || (g->vm->concurrent && g->width > 1);
		G->full_aff[i] = 1;
		for (int k = 0; k < g->width; k++)
			G->full_aff[i] &= bitmap_count(g->vm->vcpus[k].affinity, n) == n;
		if (g->width > maxw)
			maxw = g->width;
		g->pc = xcalloc((size_t)g->width, sizeof *g->pc);
		for (int k = 0; k < g->width; k++)
			g->pc[k] = -1;
		if (prm->hybrid && g->is_gang)
			for (int k = 0; k < g->width; k++)
				credit_of(s)->v[g->vm->vcpus[k].id].foreign = 1;
		/* gangs are coscheduled all their life (mode_switches stays 0) */
	}
	G->tmp_pc = xcalloc((size_t)maxw, sizeof *G->tmp_pc);
	G->pref = xcalloc((size_t)maxw, sizeof *G->pref);
	G->aff = xcalloc((size_t)maxw, sizeof *G->aff);
	event_init(&G->slice, slice_event, G, EV_POLICY);
	sim_at(s, &G->slice, G->slice_ns);
}

static void destroy(struct sim *s)
{
	struct gang *G = gang_of(s);
	if (!G)
		return;
	for (int i = 0; i < s->nvms; i++)
		free(G->g[i].pc);
	free(G->g);
	free(G->owner);
	free(G->member);
	free(G->match_of);
	free(G->seen);
	free(G->can);
	free(G->share);
	free(G->keys);
	free(G->tmp_pc);
	free(G->pref);
	free(G->aff);
	free(G->avail);
	free(G->lent);
	free(G->dirty);
	free(G->is_dirty);
	free(G->full_aff);
	if (G->hybrid) {
		credit_of(s)->ext = NULL;
		free(G);
		credit_destroy(s);
	} else {
		free(G);
		s->policy = NULL;
	}
}

static void check(struct sim *s)
{
	struct gang *G = gang_of(s);
	int n = s->host.npcpus, settled = 1, nfree = 0;
	if (G->hybrid)
		credit_check(s);
	for (int q = 0; q < n; q++) {
		struct pcpu *p = &s->host.pcpus[q];
		settled &= !(sim_resched_due(s, p));
		nfree += G->owner[q] < 0;
		if (bitmap_test(G->avail, q) != (G->owner[q] < 0))
			sim_invariant_failed(s, "%s: free-pCPU map disagrees with the plan at pCPU %d", s->ops->name, q);
	}
	if (nfree != G->nfree)
		sim_invariant_failed(s, "%s: %d free pCPUs, counted %d", s->ops->name, G->nfree, nfree);
	for (int q = 0; q < n && settled; q++) {
		struct pcpu *p = &s->host.pcpus[q];
		if (G->owner[q] < 0 && G->hybrid) {
			if (p->curr && is_foreign(s, p->curr))
				sim_invariant_failed(s, "hybrid: gang vCPU %s.%d runs on Credit's pCPU %d",
						     p->curr->vm->name, p->curr->idx, q);
			continue;
		}
		if (p->curr != desired(s, q))
			sim_invariant_failed(s, "%s: pCPU %d runs %s.%d, the plan says %s", s->ops->name, q,
					     p->curr ? p->curr->vm->name : "idle", p->curr ? p->curr->idx : 0,
					     desired(s, q) ? desired(s, q)->vm->name : "idle");
	}
	for (int i = 0; i < s->nvms; i++) {
		struct gvm *g = &G->g[i];
		int held = 0;
		for (int k = 0; k < g->width; k++) {
			int q = g->pc[k];
			if (!g->scheduled) {
				if (q >= 0)
					sim_invariant_failed(s, "%s: unscheduled VM %s holds pCPU %d", s->ops->name,
							     g->vm->name, q);
				continue;
			}
			if (q < 0 || G->owner[q] != i || G->member[q] != k ||
			    !bitmap_test(g->vm->vcpus[k].affinity, q))
				sim_invariant_failed(s, "%s: VM %s member %d has no pCPU of its own", s->ops->name,
						     g->vm->name, k);
			else
				held++;
		}
		if (held != (g->scheduled ? g->width : 0) || held != g->held || (g->scheduled && !g->is_gang))
			sim_invariant_failed(s, "%s: VM %s holds %d pCPUs, width %d", s->ops->name, g->vm->name,
					     held, g->width);
		if (!settled || g->width < 2 || !g->is_gang)
			continue;
		int running = 0, live = 0;
		for (int k = 0; k < g->width; k++) {
			running += g->vm->vcpus[k].state == VCPU_RUNNING;
			live += g->vm->vcpus[k].state != VCPU_BLOCKED;
		}
		if (running != 0 && running != live)
			sim_invariant_failed(s, "%s: VM %s has %d of its %d runnable vCPUs running", s->ops->name,
					     g->vm->name, running, live);
	}
}

static void report_vm(struct sim *s, struct vm *vm, cJSON *out)
{
	struct gvm *g = &gang_of(s)->g[vm->id];
	if (!g->is_gang || vm->nvcpus < 2)
		return;
	/* a gang is in coscheduled mode all its life: until it finished, or the end */
	simtime_t life = vm->done_time >= 0 ? vm->done_time : s->end;
	cJSON_ReplaceItemInObject(out, "cosched_ms", cJSON_CreateNumber(simtime_ms(life)));
	simtime_t held = g->sched_ns + (g->scheduled ? s->end - g->sched_since : 0);
	cJSON_AddNumberToObject(out, "gang_scheduled_ms", simtime_ms(held));
}

static void destroy_params(void *p) { free(p); }

const struct sched_ops sched_gang = {
	.name = "gang",
	.summary = "strict gang: each VM's vCPUs run together on distinct pCPUs, global slices, shares by weight",
	.source = "Ousterhout, ICDCS 1982; model.md; design in docs/policies.md",
	.parse = parse_gang,
	.free_params = destroy_params,
	.validate = validate,
	.init = init,
	.destroy = destroy,
	.wake = wake,
	.sleep = sleep,
	.do_schedule = do_schedule,
	.check = check,
	.report_vm = report_vm,
};

const struct sched_ops sched_hybrid = {
	.name = "hybrid",
	.summary = "VEE 2009 hybrid: VMs flagged \"concurrent\" gang-scheduled, the others under Credit on the other pCPUs",
	.source = "Weng et al., VEE 2009 (cited by the HPDC 2011 abstract); design in docs/policies.md",
	.parse = parse_hybrid,
	.free_params = destroy_params,
	.validate = validate,
	.init = init,
	.destroy = destroy,
	.wake = wake,
	.sleep = sleep,
	.do_schedule = do_schedule,
	.check = check,
	.report_vm = report_vm,
};
