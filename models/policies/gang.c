/* gang.c: the `gang` policy: strict coscheduling (Ousterhout 1982, without
 * fragments; shared/spec/model.md, "Policies").
 *
 * Every VM is a gang whose width is its vCPU count. A gang is scheduled as a
 * unit: when it is scheduled it holds `width` distinct pCPUs, one per vCPU, for
 * the rest of the global slice; its vCPUs start and stop together; a blocked
 * member keeps its pCPU idle while the gang holds it (fragmentation). 1-vCPU VMs
 * are gangs of width 1, so they fill pCPUs that no wider gang uses.
 *
 * Decisions are global (one plan for the host), like a gang matrix:
 *  - every slice_ms (default 30, Xen's timeslice) the plan is rebuilt: gangs
 *    with at least one runnable vCPU, in order of credit (highest first; ties:
 *    longest unscheduled, then VM order), are packed first-fit into the pCPUs
 *    (a gang that does not fit is skipped, smaller ones behind it may fit);
 *  - between slice boundaries the plan only grows: a pCPU freed because a gang
 *    has no runnable member left (all blocked: it gives up its slot) is offered
 *    to waiting gangs in the same order; a waking vCPU of a scheduled gang runs
 *    at once on its reserved pCPU.
 *  The pCPUs whose planned vCPU changed get a scheduling event; do_schedule
 *  returns the planned vCPU if it is runnable, else idle. A vCPU keeps its last
 *  pCPU when the plan allows (matching with affinity, augmenting paths).
 *
 * Shares (our design, credit-like accounting per VM): a VM's credit is in ns of
 * pCPU time. It is debited width x time while the gang holds its pCPUs (held
 * idle pCPUs included: the gang made them unusable). At each slice boundary the
 * pool npcpus x slice is shared among the VMs that held pCPUs in the slice or
 * are waiting, in proportion to their weights, each capped at width x slice
 * (surplus redistributed, water-filling, as in Xen's csched_acct); credit is
 * clipped to [-width x slice, +width x slice]. Ordering by credit makes a gang
 * that ran less than its share rise until it is packed first.
 * Caps and the switch latency of a real gang scheduler are not modelled (every
 * pCPU of a plan change switches at the same instant, which favours gang).
 *
 * Invariants (gang_check, after every event under --check):
 *  - the plan is consistent: a scheduled gang holds exactly width distinct
 *    pCPUs allowed by its vCPUs' affinity, an unscheduled one holds none;
 *  - every pCPU without a pending scheduling event runs its planned vCPU if that
 *    vCPU is runnable, else nothing;
 *  - all or none: when no pCPU has a scheduling event pending, each VM with more
 *    than one vCPU has either none of its vCPUs running or all its runnable ones. */
#include <stdlib.h>
#include <string.h>
#include "sim/scenario.h"
#include "sim/sim.h"
#include "sim/trace.h"

struct gang_params {
	simtime_t slice_ns;
};

struct gvm {
	struct vm *vm;
	int width;
	int scheduled;
	int *pc;                 /* per member: planned pCPU, -1 when unscheduled */
	int64_t credit;          /* ns of pCPU time */
	int held;                /* pCPUs held now */
	simtime_t burn_since;
	int was_active;          /* held pCPUs during the current slice */
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
	simtime_t slice_ns;
	struct gvm *g;
	int *owner;              /* per pCPU: VM id, -1 = free */
	int *member;             /* per pCPU: member index */
	int nfree;
	struct event slice;
	int *order;              /* scratch: VM ids */
	int *match_of;           /* scratch: per pCPU, member index in the matching or -1 */
	int *seen;               /* scratch: per pCPU, visit stamp */
	int stamp;
	int *tmp_pc;             /* scratch: per member */
	int *pref;               /* scratch: per member */
	const bitword_t **aff;   /* scratch: per member */
	int *avail;              /* scratch: per pCPU */
	struct gkey *keys;       /* scratch: per VM */
};

static void *xcalloc(size_t n, size_t sz)
{
	void *p = calloc(n ? n : 1, sz);
	if (!p) {
		fprintf(stderr, "vcpusim: out of memory\n");
		exit(1);
	}
	return p;
}

static struct gang *gang_of(struct sim *s) { return s->policy; }

/* ---- parameters and validation */

static void *parse(struct jp *jp, const cJSON *sched, const char *path)
{
	static const char *const keys[] = { "policy", "slice_ms", NULL };
	struct gang_params *p = xcalloc(1, sizeof *p);
	jp_only_keys(jp, sched, path, keys);
	p->slice_ns = (simtime_t)(jp_num(jp, sched, path, "slice_ms", 30, 0.1, 1e6) * NS_PER_MS);
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
	int n = sc->npcpus;
	for (int i = 0; i < sc->nvms && !jp->failed; i++) {
		const struct vm_config *c = &sc->vms[i];
		char path[JP_PATH_MAX];
		snprintf(path, sizeof path, "vms[%d].vcpus", c->index);
		if (c->vcpus > n) {
			jp_fail(jp, path, "policy gang runs a VM's vCPUs at once on distinct pCPUs: VM %s has %d vCPUs but the host has %d pCPUs",
				c->name, c->vcpus, n);
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
			jp_fail(jp, path, "policy gang needs distinct pCPUs for the %d vCPUs of VM %s, which its affinity does not allow",
				c->vcpus, c->name);
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
	int nact = 0;
	for (int i = 0; i < s->nvms; i++) {
		struct gvm *g = &G->g[i];
		g->was_active = g->was_active || g->scheduled || runnable_members(g) > 0;
		G->order[i] = g->was_active ? 1 : 0;   /* 1 = still to be given its share */
		if (g->was_active) {
			wleft += g->vm->weight;
			nact++;
		}
	}
	/* water-filling: VMs whose fair share exceeds their peak get the peak and
	 * the rest is shared again among the others */
	int changed = 1;
	while (changed && nact > 0 && wleft > 0) {
		changed = 0;
		for (int i = 0; i < s->nvms; i++) {
			struct gvm *g = &G->g[i];
			int64_t peak = (int64_t)g->width * G->slice_ns;
			if (G->order[i] != 1)
				continue;
			if ((double)pool * g->vm->weight / (double)wleft >= (double)peak) {
				g->credit += peak;
				pool -= peak;
				wleft -= g->vm->weight;
				G->order[i] = 2;
				changed = 1;
			}
		}
	}
	for (int i = 0; i < s->nvms; i++) {
		struct gvm *g = &G->g[i];
		if (G->order[i] == 1)
			g->credit += (int64_t)((double)pool * g->vm->weight / (double)wleft);
		int64_t lim = (int64_t)g->width * G->slice_ns;
		if (g->credit > lim)
			g->credit = lim;
		if (g->credit < -lim)
			g->credit = -lim;
		g->was_active = 0;
	}
}

/* ---- the plan */

static void unschedule(struct sim *s, struct gvm *g)
{
	struct gang *G = gang_of(s);
	if (!g->scheduled)
		return;
	burn(s, g);
	g->sched_ns += s->now - g->sched_since;
	for (int i = 0; i < g->width; i++) {
		G->owner[g->pc[i]] = -1;
		g->pc[i] = -1;
	}
	G->nfree += g->width;
	g->held = 0;
	g->scheduled = 0;
}

/* Tries to give g distinct free pCPUs; returns 1 if scheduled. */
static int try_schedule(struct sim *s, struct gvm *g)
{
	struct gang *G = gang_of(s);
	int n = s->host.npcpus;
	if (g->width > G->nfree)
		return 0;
	for (int q = 0; q < n; q++)
		G->avail[q] = G->owner[q] < 0;
	for (int i = 0; i < g->width; i++) {
		const struct vcpu *v = &g->vm->vcpus[i];
		G->aff[i] = v->affinity;
		/* a running vCPU stays where it runs; others prefer their last pCPU */
		G->pref[i] = v->running_on ? v->running_on->id : v->processor;
	}
	struct matcher m = { n, g->width, G->aff, G->avail, G->match_of, G->seen, G->stamp, G->tmp_pc };
	int ok = match(&m, G->pref);
	G->stamp = m.stamp;
	if (!ok)
		return 0;
	for (int i = 0; i < g->width; i++) {
		g->pc[i] = G->tmp_pc[i];
		G->owner[g->pc[i]] = g->vm->id;
		G->member[g->pc[i]] = i;
	}
	G->nfree -= g->width;
	burn(s, g);
	g->held = g->width;
	g->scheduled = 1;
	g->was_active = 1;
	g->last_sched = s->now;
	g->sched_since = s->now;
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

/* Offers the free pCPUs to waiting gangs, best first, first fit. */
static void fill(struct sim *s)
{
	struct gang *G = gang_of(s);
	if (G->nfree == 0)
		return;
	int k = 0;
	for (int i = 0; i < s->nvms; i++) {
		struct gvm *g = &G->g[i];
		if (!g->scheduled && runnable_members(g) > 0) {
			burn(s, g);
			G->keys[k++] = (struct gkey){ g->credit, g->last_sched, i };
		}
	}
	qsort(G->keys, (size_t)k, sizeof *G->keys, cmp_keys);
	for (int j = 0; j < k && G->nfree > 0; j++)
		try_schedule(s, &G->g[G->keys[j].id]);
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

/* Raises a scheduling event on every pCPU that does not run what it should. */
static void sync(struct sim *s)
{
	for (int q = 0; q < s->host.npcpus; q++) {
		struct pcpu *p = &s->host.pcpus[q];
		if (p->curr != desired(s, q))
			sim_raise_schedule(s, p);
	}
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
	fill(s);
	sync(s);
}

/* ---- the policy's hooks */

static void wake(struct sim *s, struct vcpu *v)
{
	struct gang *G = gang_of(s);
	struct gvm *g = &G->g[v->vm->id];
	if (!g->scheduled)
		fill(s);
	sync(s);
}

static void sleep(struct sim *s, struct vcpu *v)
{
	struct gang *G = gang_of(s);
	struct gvm *g = &G->g[v->vm->id];
	if (g->scheduled && runnable_members(g) == 0) {
		/* the whole gang is blocked: it gives up its slot for the rest of the slice */
		unschedule(s, g);
		fill(s);
	}
	if (v->running_on)
		sim_raise_schedule(s, v->running_on);
	sync(s);
}

static struct vcpu *do_schedule(struct sim *s, struct pcpu *p, simtime_t *slice)
{
	*slice = SIMTIME_NEVER;   /* the global slice timer decides */
	struct vcpu *prev = p->curr;
	struct vcpu *v = desired(s, p->id);
	if (v && v->running_on && v->running_on != p)
		v = NULL;   /* still on its old pCPU, whose reschedule is pending */
	if (prev && prev != v && prev->state != VCPU_BLOCKED) {
		/* prev may be planned on another pCPU, which must reschedule after this */
		struct gvm *g = &gang_of(s)->g[prev->vm->id];
		if (g->scheduled && g->pc[prev->idx] != p->id)
			sim_raise_schedule(s, &s->host.pcpus[g->pc[prev->idx]]);
	}
	return v;
}

/* ---- set-up */

static void init(struct sim *s)
{
	const struct gang_params *prm = s->policy_params;
	struct gang *G = xcalloc(1, sizeof *G);
	s->policy = G;
	int n = s->host.npcpus, maxw = 1;
	G->slice_ns = prm->slice_ns;
	G->g = xcalloc((size_t)s->nvms, sizeof *G->g);
	G->owner = xcalloc((size_t)n, sizeof *G->owner);
	G->member = xcalloc((size_t)n, sizeof *G->member);
	G->match_of = xcalloc((size_t)n, sizeof *G->match_of);
	G->seen = xcalloc((size_t)n, sizeof *G->seen);
	G->order = xcalloc((size_t)s->nvms, sizeof *G->order);
	for (int q = 0; q < n; q++)
		G->owner[q] = -1;
	G->nfree = n;
	for (int i = 0; i < s->nvms; i++) {
		struct gvm *g = &G->g[i];
		g->vm = &s->vms[i];
		g->width = g->vm->nvcpus;
		if (g->width > maxw)
			maxw = g->width;
		g->pc = xcalloc((size_t)g->width, sizeof *g->pc);
		for (int k = 0; k < g->width; k++)
			g->pc[k] = -1;
		/* gangs are coscheduled all their life (mode_switches stays 0) */
	}
	G->tmp_pc = xcalloc((size_t)maxw, sizeof *G->tmp_pc);
	G->pref = xcalloc((size_t)maxw, sizeof *G->pref);
	G->aff = xcalloc((size_t)maxw, sizeof *G->aff);
	G->avail = xcalloc((size_t)n, sizeof *G->avail);
	G->keys = xcalloc((size_t)s->nvms, sizeof *G->keys);
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
	free(G->order);
	free(G->tmp_pc);
	free(G->pref);
	free(G->aff);
	free(G->avail);
	free(G->keys);
	free(G);
	s->policy = NULL;
}

static void check(struct sim *s)
{
	struct gang *G = gang_of(s);
	int n = s->host.npcpus, settled = 1, nfree = 0;
	for (int q = 0; q < n; q++) {
		struct pcpu *p = &s->host.pcpus[q];
		settled &= !(event_pending(&p->sched_ev) && p->sched_ev.when == s->now);
		nfree += G->owner[q] < 0;
	}
	for (int q = 0; q < n && settled; q++) {
		struct pcpu *p = &s->host.pcpus[q];
		if (p->curr != desired(s, q))
			sim_invariant_failed(s, "gang: pCPU %d runs %s.%d, the plan says %s", q,
					     p->curr ? p->curr->vm->name : "idle", p->curr ? p->curr->idx : 0,
					     desired(s, q) ? desired(s, q)->vm->name : "idle");
	}
	if (nfree != G->nfree)
		sim_invariant_failed(s, "gang: %d free pCPUs, counted %d", G->nfree, nfree);
	for (int i = 0; i < s->nvms; i++) {
		struct gvm *g = &G->g[i];
		int held = 0;
		for (int k = 0; k < g->width; k++) {
			int q = g->pc[k];
			if (!g->scheduled) {
				if (q >= 0)
					sim_invariant_failed(s, "gang: unscheduled VM %s holds pCPU %d", g->vm->name, q);
				continue;
			}
			if (q < 0 || G->owner[q] != i || G->member[q] != k ||
			    !bitmap_test(g->vm->vcpus[k].affinity, q))
				sim_invariant_failed(s, "gang: VM %s member %d has no pCPU of its own", g->vm->name, k);
			else
				held++;
		}
		if (held != (g->scheduled ? g->width : 0) || held != g->held)
			sim_invariant_failed(s, "gang: VM %s holds %d pCPUs, width %d", g->vm->name, held, g->width);
		if (!settled || g->width < 2)
			continue;
		int running = 0, live = 0;
		for (int k = 0; k < g->width; k++) {
			running += g->vm->vcpus[k].state == VCPU_RUNNING;
			live += g->vm->vcpus[k].state != VCPU_BLOCKED;
		}
		if (running != 0 && running != live)
			sim_invariant_failed(s, "gang: VM %s has %d of its %d runnable vCPUs running",
					     g->vm->name, running, live);
	}
}

static void report_vm(struct sim *s, struct vm *vm, cJSON *out)
{
	struct gvm *g = &gang_of(s)->g[vm->id];
	/* a gang is in coscheduled mode all its life: until it finished, or the end */
	simtime_t life = vm->done_time >= 0 ? vm->done_time : s->end;
	if (vm->nvcpus > 1)
		cJSON_ReplaceItemInObject(out, "cosched_ms", cJSON_CreateNumber(simtime_ms(life)));
	simtime_t held = g->sched_ns + (g->scheduled ? s->end - g->sched_since : 0);
	cJSON_AddNumberToObject(out, "gang_scheduled_ms", simtime_ms(held));
}

const struct sched_ops sched_gang = {
	.name = "gang",
	.summary = "strict gang: each VM's vCPUs run together on distinct pCPUs, global slices, shares by weight",
	.source = "Ousterhout, ICDCS 1982; Feitelson and Rudolph 1992; model.md; docs/policies.md",
	.parse = parse,
	.free_params = free,
	.validate = validate,
	.init = init,
	.destroy = destroy,
	.wake = wake,
	.sleep = sleep,
	.do_schedule = do_schedule,
	.check = check,
	.report_vm = report_vm,
};
