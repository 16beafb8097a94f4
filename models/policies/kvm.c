/* kvm.c: Linux KVM's view of vCPU scheduling: each vCPU is a host thread under
 * the host's fair scheduler (EEVDF, Linux 6.6+), plus pause-loop exiting (PLE)
 * with directed yield.
 *
 * What it does:
 *  - Fair scheduler, per-pCPU runqueues (kernel/sched/fair.c, Linux 6.6 EEVDF):
 *    a thread's virtual runtime advances by its CPU time x 256 / weight (weight =
 *    its VM's weight; 256 plays NICE_0_LOAD). V is the load-weighted average
 *    vruntime of a runqueue; a thread is eligible when its vruntime <= V (lag >=
 *    0). Each thread has a virtual deadline = vruntime + slice x 256 / weight
 *    (slice = min_granularity, the base slice). The pick is the eligible thread
 *    with the earliest deadline; the running thread is kept while it is eligible
 *    until its slice is used up (RUN_TO_PARITY). Slices end at host ticks
 *    (tick_hz, no hrtick), which fire on the grid at the same instants on every
 *    pCPU (tick_sched_timer is a hard-interrupt hrtimer forwarded on a fixed grid,
 *    kernel/time/tick-sched.c, without skew_tick; measured with `vcpusim kvm
 *    --trace` on the reference host: vCPU threads stop within 1 us of the grid on
 *    both CPUs). A switch into a VM's vCPU thread costs the host profile's
 *    vcpu_switch_ns before the guest runs again (the outgoing thread's exit, the
 *    context switch, the incoming one's entry: measured by `vcpusim calibrate`,
 *    48 us median under the reference host's kvm_pvm); it runs as interrupt-like
 *    host activity, so the incoming thread's clock is charged for it on a host
 *    without IRQ time accounting, as its entry path is its own kernel time. A
 *    native VM's threads (processes) switch at no modelled cost. A waking thread
 *    is placed at V minus its lag from when it slept (PLACE_LAG; a first start
 *    gets half a slice, PLACE_DEADLINE_INITIAL) and preempts the runner when it
 *    becomes the pick (wake-up preemption). A
 *    native VM's created thread (vcpu->wake_new) starts as a new thread, with no
 *    lag, and does not preempt (wake_up_new_task with WF_FORK: measured on the
 *    reference host's 6.18, where it waits for the runner's tick; 6.19's
 *    check_preempt_wakeup_fair returns on WF_FORK). With "fair": "eevdf-6.17",
 *    RUN_TO_PARITY protects the runner until its vruntime reaches the deadline it
 *    had when picked (set_protect_slice, protect_slice), and every update_curr
 *    with others queued past that reschedules (Linux 6.17+ update_curr).
 *  - With "fair": "cfs", CFS as before Linux 6.6 (the scheduler of the paper's
 *    era) instead: the pick is the least vruntime; the runner is preempted at a
 *    tick once it has had its share of the period (sched_latency 6 ms x f, or
 *    nr x min_granularity beyond 8 threads, x weight / load) or the leftmost is
 *    that far behind it, and by a waking thread more than wakeup_granularity (1 ms
 *    x f, weight-scaled) behind it; a sleeper wakes at no less than min_vruntime -
 *    sched_latency / 2 (GENTLE_FAIR_SLEEPERS), a new thread a slice after it
 *    (START_DEBIT); yield sets the skip buddy, yield_to the next buddy, each taken
 *    when within the wake-up granularity of the leftmost. f = 1 + log2(min(npcpus,
 *    8)), as Linux scales these tunables.
 *  - Placement and load balancing: a waking thread goes to its previous pCPU if
 *    idle, else to the first idle pCPU after it (select_idle_sibling in one LLC),
 *    else stays on its previous pCPU. A pCPU about to idle pulls a waiting thread
 *    from the runqueue with the most threads (newidle balance). Periodically
 *    (every npcpus ms when idle, 16x that when busy: sd->balance_interval and
 *    busy_factor) a pCPU pulls from the runqueue with the highest load a waiting
 *    thread whose weight fits in half the load difference (detach_tasks).
 *  - PLE (arch/x86/kvm/vmx/vmx.c handle_pause, virt/kvm/kvm_main.c
 *    kvm_vcpu_on_spin): a running vCPU that has spun (G_LOCK_SPIN, and barrier
 *    and hand-off flag spins unless ple_user is false) for ple_window cycles exits. Its window grows
 *    (x ple_window_grow, up to ple_window_max) at each exit and is reset to
 *    ple_window when the thread is scheduled in again (ple_window_shrink 0). KVM
 *    then looks for a sibling to yield to, round robin from the last one boosted
 *    in this VM: one that is ready (runnable, not running), not itself, that if it
 *    was preempted while the spinner spins in kernel mode was preempted in kernel
 *    mode, and that passes the directed-yield eligibility (a candidate that is
 *    itself spinning is eligible every other time: dy_eligible toggles). yield_to
 *    fails when neither runqueue has another thread (up to 3 such failures), else
 *    marks the target as its runqueue's next buddy (picked if eligible), makes
 *    that pCPU reschedule, and the spinner yields (its deadline moves a slice
 *    later) and reschedules.
 *
 * Sources: Linux kernel/sched/fair.c (v6.6: avg_vruntime, entity_eligible,
 * place_entity, pick_eevdf, update_deadline, yield_task_fair,
 * yield_to_task_fair, select_idle_sibling, load_balance; v6.5 for CFS:
 * check_preempt_tick, wakeup_preempt_entity, pick_next_entity, place_entity), virt/kvm/kvm_main.c
 * (kvm_vcpu_on_spin, kvm_vcpu_eligible_for_directed_yield), arch/x86/kvm/vmx/vmx.c
 * (grow_ple_window / shrink_ple_window, defaults ple_gap 128, ple_window 4096,
 * grow 2, shrink 0, max UINT_MAX); docs/kvm-harness.md (250 Hz, EEVDF).
 *
 * Invariants kept (kvm_check, under --check, after every event): a runnable or
 * running vCPU is on exactly one runqueue (that of its pCPU), a blocked one on
 * none unless it is the current thread of a pCPU that reschedules now; every
 * runqueue's thread count and load match its threads; a pCPU's current thread is
 * its runqueue's current entity.
 *
 * Where we interpret:
 *  - Weights are per vCPU thread (nice-like), not per VM cgroup: a VM's share is
 *    weight x runnable vCPUs, as Credit2's (cgroup share splitting,
 *    calc_group_shares, is not modelled).
 *  - EEVDF as merged in 6.6: a sleeper keeps its lag (no DELAY_DEQUEUE of 6.12+);
 *    the directed-yield buddy is honoured when eligible (yield_buddy, the CFS-era
 *    behaviour; 6.6 gates it behind NEXT_BUDDY, set yield_buddy false for that).
 *  - "In a spin loop" for a candidate of directed yield means its guest is
 *    spinning (KVM sets it only inside kvm_vcpu_on_spin, which in a one-event-at-
 *    a-time simulation would never be seen by another vCPU).
 *  - Kernel mode for the yield_to_kernel_mode test: guest states G_CRITICAL,
 *    G_LOCK_SPIN, G_SYS (guest kernel spinlocks and futex work); compute,
 *    barrier and hand-off flag spinning are user mode. Intel PLE only exits at CPL 0; the default
 *    ple_user true also exits barrier (user) spins, as AMD's pause filter does.
 *  - The cost of a PLE exit itself is not charged (it is spin time anyway).
 *  - No halt polling (halt_poll_ns) and no other host tasks. */
#include <stdlib.h>
#include "models/sched.h"
#include "sim/sim.h"
#include "sim/scenario.h"

/* Thread weights are the VM's weight x WSCALE (or that / its runnable vCPUs, with
 * weights "vm"); NICE0 is the weight whose vruntime advances at the rate of time:
 * the default VM weight 256, scaled. */
#define WSCALE 16
#define NICE0 (256 * WSCALE)

struct kvm_params {
	int ple, ple_user, yield_buddy;
	int eevdf617;                 /* "eevdf-6.17": 6.17's slice protection (vprot) */
	int per_vm;                   /* weights "vm": a VM's weight is split over its runnable vCPUs */
	int cfs;                      /* fair "cfs": CFS as before Linux 6.6 instead of EEVDF */
	int64_t ple_window, ple_window_grow, ple_window_shrink, ple_window_max;
	int tick_hz;
	int64_t min_granularity_us;   /* 0: 750 us x (1 + log2(min(npcpus, 8))) */
};

struct kent {
	struct vcpu *v;
	int64_t vruntime, deadline, vlag, weight;
	int64_t vprot;             /* 6.17+: RUN_TO_PARITY protects it until vruntime >= this */
	int on_rq, cpu, protect, started;
	int counted;               /* not blocked: counted in its VM's nrun */
	int last_rq;               /* CFS: the runqueue it left (vlag holds v - its min_vruntime) */
	simtime_t picked_at;       /* CFS: when it was last picked (runtime of this turn) */
	simtime_t exec_start, last_ran;
	struct kent *prev, *next;
	/* KVM */
	int preempted;             /* descheduled while runnable (vcpu->preempted) */
	int dy_eligible;
	int64_t ple_window;        /* cycles */
	struct event ple_ev;
	uint64_t ple_exits, yields;
};

struct krq {
	struct kent *head, *tail, *curr, *buddy, *skip;
	int nr;
	int64_t load, zero_v;
	struct event tick;
	simtime_t tick_grid;       /* the tick's current expiry on its grid */
	int nr_balance_failed;     /* periodic balances that found nothing to pull */
	simtime_t next_balance;
};

struct kvm {
	const struct kvm_params *prm;
	struct kent *e;
	struct krq *rq;
	int *last_boosted;         /* per VM */
	int *nrun;                 /* per VM: vCPUs not blocked (weights "vm") */
	simtime_t tick_ns, slice_ns, balance_ns;
	simtime_t latency_ns, wakeup_ns;   /* CFS: sched_latency, sched_wakeup_granularity */
};

static struct kvm *kvm_of(struct sim *s) { return s->policy; }
static struct kent *ent(struct sim *s, const struct vcpu *v) { return &kvm_of(s)->e[v->id]; }

/* ---- parameters */

static const char *const keys[] = { "policy", "ple", "ple_user", "ple_window", "ple_window_grow",
				    "ple_window_shrink", "ple_window_max", "tick_hz",
				    "min_granularity_us", "yield_buddy", "weights", "fair", NULL };

static void *parse(struct jp *jp, const cJSON *sched, const char *path)
{
	struct kvm_params *p = calloc(1, sizeof *p);
	jp_only_keys(jp, sched, path, keys);
	p->ple = jp_bool(jp, sched, path, "ple", 1);
	p->ple_user = jp_bool(jp, sched, path, "ple_user", 1);
	p->yield_buddy = jp_bool(jp, sched, path, "yield_buddy", 1);
	p->ple_window = jp_int(jp, sched, path, "ple_window", 4096, 1, INT64_C(1) << 40);
	p->ple_window_grow = jp_int(jp, sched, path, "ple_window_grow", 2, 0, INT64_C(1) << 40);
	p->ple_window_shrink = jp_int(jp, sched, path, "ple_window_shrink", 0, 0, INT64_C(1) << 40);
	p->ple_window_max = jp_int(jp, sched, path, "ple_window_max", 4294967295LL, 1, INT64_C(1) << 40);
	p->tick_hz = (int)jp_int(jp, sched, path, "tick_hz", 250, 1, 100000);
	p->min_granularity_us = jp_int(jp, sched, path, "min_granularity_us", 0, 0, 10000000);
	static const char *const wnames[] = { "vcpu", "vm", NULL };
	p->per_vm = jp_enum(jp, sched, path, "weights", wnames, 0);
	static const char *const fnames[] = { "eevdf", "cfs", "eevdf-6.17", NULL };
	int fair = jp_enum(jp, sched, path, "fair", fnames, 0);
	p->cfs = fair == 1;
	p->eevdf617 = fair == 2;
	if (!jp->failed && p->ple_window_max < p->ple_window)
		jp_fail(jp, path, "ple_window_max: expected >= ple_window (%lld)", (long long)p->ple_window);
	return p;
}

/* ---- EEVDF arithmetic */

static int64_t vdelta(int64_t delta, int64_t w) { return delta * NICE0 / w; }

static int64_t avg_vruntime(const struct krq *rq)
{
	if (rq->load == 0)
		return rq->zero_v;
	int64_t sum = 0;
	for (const struct kent *e = rq->head; e; e = e->next)
		sum += e->weight * (e->vruntime - rq->zero_v);
	if (sum < 0)
		sum -= rq->load - 1;   /* floor, as avg_vruntime() */
	return rq->zero_v + sum / rq->load;
}

/* sum of weight x (vruntime - zero_v): V x load, relative to zero_v */
static int64_t wsum(const struct krq *rq)
{
	int64_t sum = 0;
	for (const struct kent *e = rq->head; e; e = e->next)
		sum += e->weight * (e->vruntime - rq->zero_v);
	return sum;
}

/* entity_eligible: vruntime <= V, without dividing */
static int eligible_w(const struct krq *rq, int64_t sum, const struct kent *se)
{
	return sum >= (se->vruntime - rq->zero_v) * rq->load;
}

static int eligible(const struct krq *rq, const struct kent *se)
{
	return eligible_w(rq, wsum(rq), se);
}

static void update_min_vruntime(struct krq *rq)
{
	if (!rq->head)
		return;
	int64_t m = rq->head->vruntime;
	for (const struct kent *e = rq->head->next; e; e = e->next)
		if (e->vruntime < m)
			m = e->vruntime;
	if (m > rq->zero_v)
		rq->zero_v = m;
}

/* Charges the current thread's CPU time; returns 1 if its slice was used up (a
 * new deadline) while others wait: the pCPU should reschedule. */
static int update_curr(struct sim *s, struct krq *rq)
{
	struct kvm *k = kvm_of(s);
	struct kent *c = rq->curr;
	if (!c)
		return 0;
	simtime_t clock = sim_task_clock(s, &s->host.pcpus[c->cpu]);
	simtime_t delta = clock - c->exec_start;
	if (delta <= 0)
		return 0;
	c->exec_start = clock;
	c->vruntime += vdelta(delta, c->weight);
	int resched = 0;
	if (!k->prm->cfs && c->vruntime - c->deadline >= 0) {
		c->deadline = c->vruntime + vdelta(k->slice_ns, c->weight);
		c->protect = 0;
		resched = rq->nr > 1;
	}
	/* 6.17+ update_curr: once its protection is over, every update with others
	 * queued reschedules (and the pick decides), not only a renewed deadline */
	if (k->prm->eevdf617 && rq->nr > 1 && c->vruntime - c->vprot >= 0)
		resched = 1;
	update_min_vruntime(rq);
	return resched;
}

/* reweight_entity (Linux 6.7+ reweight_eevdf): a queued thread keeps its lag in
 * real time, so V does not move; a sleeping one has its saved lag rescaled. */
static void reweight(struct sim *s, struct kent *e, int64_t w)
{
	struct kvm *k = kvm_of(s);
	int64_t old = e->weight;
	if (w == old)
		return;
	if (e->on_rq && k->prm->cfs) {
		/* CFS's reweight_entity leaves vruntime alone */
		struct krq *rq = &k->rq[e->cpu];
		if (rq->curr == e)
			update_curr(s, rq);
		rq->load += w - old;
	} else if (e->on_rq) {
		struct krq *rq = &k->rq[e->cpu];
		if (rq->curr == e && update_curr(s, rq))
			sim_raise_schedule(s, &s->host.pcpus[e->cpu]);
		int64_t V = avg_vruntime(rq);
		int64_t v = V - (V - e->vruntime) * old / w;
		e->deadline = v + (e->deadline - e->vruntime) * old / w;
		e->vruntime = v;
		rq->load += w - old;
	} else if (!k->prm->cfs) {
		e->vlag = e->vlag * old / w;
	}
	e->weight = w;
}

static int64_t thread_weight(struct sim *s, const struct vm *vm)
{
	struct kvm *k = kvm_of(s);
	int64_t w = (int64_t)vm->weight * WSCALE;
	if (k->prm->per_vm) {
		int n = k->nrun[vm->id] > 0 ? k->nrun[vm->id] : 1;
		w /= n;
	}
	return w > 0 ? w : 1;
}

/* weights "vm": a vCPU of vm blocked or woke up: its runnable siblings share the
 * VM's weight again (a VM cgroup's shares, flattened: calc_group_shares gives
 * each thread weight / runnable threads) */
static void vm_count(struct sim *s, struct kent *e, int runnable)
{
	struct kvm *k = kvm_of(s);
	struct vm *vm = e->v->vm;
	if (e->counted == runnable)
		return;
	e->counted = runnable;
	k->nrun[vm->id] += runnable ? 1 : -1;
	if (!k->prm->per_vm)
		return;
	int64_t w = thread_weight(s, vm);
	for (int i = 0; i < vm->nvcpus; i++) {
		struct kent *x = ent(s, &vm->vcpus[i]);
		if (x->counted)
			reweight(s, x, w);
	}
}

/* CFS's place_entity: a new thread starts a slice after min_vruntime
 * (START_DEBIT); a sleeper gets at most half a latency of credit
 * (GENTLE_FAIR_SLEEPERS). A thread moved to another runqueue keeps its vruntime
 * relative to min_vruntime. */
static void cfs_place(struct sim *s, struct krq *rq, struct kent *se, int cpu, int wakeup)
{
	struct kvm *k = kvm_of(s);
	if (!se->started) {
		int nr = rq->nr + 1;
		simtime_t period = nr > 8 ? nr * k->slice_ns : k->latency_ns;
		se->vruntime = rq->zero_v + vdelta(period * se->weight / (rq->load + se->weight), se->weight);
		se->started = 1;
		return;
	}
	if (se->last_rq != cpu)
		se->vruntime = rq->zero_v + se->vlag;
	if (wakeup) {
		int64_t floor = rq->zero_v - vdelta(k->latency_ns / 2, NICE0);
		if (se->vruntime < floor)
			se->vruntime = floor;
	}
}

static void enqueue(struct sim *s, struct krq *rq, struct kent *se, int cpu, int wakeup)
{
	struct kvm *k = kvm_of(s);
	if (k->prm->cfs) {
		cfs_place(s, rq, se, cpu, wakeup);
	} else {
		int64_t V = avg_vruntime(rq), lag = 0;
		if (rq->nr > 0)
			lag = se->vlag * (rq->load + se->weight) / rq->load;
		se->vruntime = V - lag;
		int64_t vslice = vdelta(k->slice_ns, se->weight);
		if (!se->started) {
			vslice /= 2;   /* PLACE_DEADLINE_INITIAL */
			se->started = 1;
		}
		se->deadline = se->vruntime + vslice;
	}
	se->next = NULL;
	se->prev = rq->tail;
	if (rq->tail)
		rq->tail->next = se;
	else
		rq->head = se;
	rq->tail = se;
	rq->nr++;
	rq->load += se->weight;
	se->on_rq = 1;
	se->cpu = cpu;
	update_min_vruntime(rq);
}

static void dequeue(struct sim *s, struct krq *rq, struct kent *se)
{
	struct kvm *k = kvm_of(s);
	if (k->prm->cfs) {
		se->vlag = se->vruntime - rq->zero_v;   /* for a move to another runqueue */
		se->last_rq = (int)(rq - k->rq);
	} else {
		/* update_entity_lag: lag = V - v, clamped to a couple of slices */
		int64_t lim = vdelta(2 * k->slice_ns > k->tick_ns ? 2 * k->slice_ns : k->tick_ns, se->weight);
		int64_t lag = avg_vruntime(rq) - se->vruntime;
		se->vlag = lag > lim ? lim : lag < -lim ? -lim : lag;
	}
	if (se->prev)
		se->prev->next = se->next;
	else
		rq->head = se->next;
	if (se->next)
		se->next->prev = se->prev;
	else
		rq->tail = se->prev;
	se->prev = se->next = NULL;
	rq->nr--;
	rq->load -= se->weight;
	se->on_rq = 0;
	if (rq->curr == se)
		rq->curr = NULL;
	if (rq->buddy == se)
		rq->buddy = NULL;
	if (rq->skip == se)
		rq->skip = NULL;
	update_min_vruntime(rq);
}

/* RUN_TO_PARITY: the running thread is kept from its pick (set_next_entity) until
 * its deadline is renewed (6.6 as merged: the HACK of vlag == deadline), or with
 * "eevdf-6.17" (set_protect_slice and protect_slice of 6.17+; all threads have the
 * same slice here) until its vruntime reaches the deadline it had when picked. */
static int protected_(const struct kvm *k, const struct kent *c)
{
	return c->protect && (!k->prm->eevdf617 || c->vruntime - c->vprot < 0);
}

static struct kent *pick_eevdf(const struct kvm *k, struct krq *rq)
{
	struct kent *curr = rq->curr, *best = NULL;
	int64_t sum = wsum(rq);
	if (curr && (!curr->on_rq || !eligible_w(rq, sum, curr)))
		curr = NULL;
	if (curr && protected_(k, curr))
		return curr;   /* RUN_TO_PARITY */
	for (struct kent *e = rq->head; e; e = e->next) {
		if (e == rq->curr || !eligible_w(rq, sum, e))
			continue;
		if (!best || e->deadline - best->deadline < 0)
			best = e;
	}
	if (!best || (curr && curr->deadline - best->deadline < 0))
		best = curr;
	return best;
}

/* CFS's wakeup_preempt_entity: 1 if se is more than a wake-up granularity
 * (scaled to se's weight) behind curr, -1 if not behind at all */
static int wakeup_preempt_entity(struct sim *s, const struct kent *curr, const struct kent *se)
{
	int64_t vdiff = curr->vruntime - se->vruntime;
	if (vdiff <= 0)
		return -1;
	return vdiff > vdelta(kvm_of(s)->wakeup_ns, se->weight) ? 1 : 0;
}

/* the queued thread of least vruntime (curr included), but not `not` */
static struct kent *leftmost(struct krq *rq, const struct kent *not)
{
	struct kent *left = NULL;
	for (struct kent *e = rq->head; e; e = e->next)
		if (e != not && (!left || e->vruntime < left->vruntime))
			left = e;
	return left;
}

/* CFS's pick_next_entity: the leftmost, but not the yielder (skip buddy) if the
 * second is close enough, and the directed-yield target (next buddy) if it is */
static struct kent *pick_cfs(struct sim *s, struct krq *rq)
{
	struct kent *left = leftmost(rq, NULL), *se = left;
	if (!left)
		return NULL;
	if (rq->skip == se) {
		struct kent *second = leftmost(rq, se);
		if (second && wakeup_preempt_entity(s, second, left) < 1)
			se = second;
	}
	struct kent *b = rq->buddy;
	if (kvm_of(s)->prm->yield_buddy && b && b->on_rq && (!b->v->running_on || rq->curr == b) &&
	    wakeup_preempt_entity(s, b, left) < 1)
		se = b;
	return se;
}

/* CFS's check_preempt_tick: the runner has had its share of the period, or
 * the leftmost is more than that share behind it */
static int cfs_tick_preempt(struct sim *s, struct krq *rq)
{
	struct kvm *k = kvm_of(s);
	struct kent *c = rq->curr;
	if (!c || rq->nr <= 1)
		return 0;
	simtime_t period = rq->nr > 8 ? rq->nr * k->slice_ns : k->latency_ns;
	simtime_t ideal = period * c->weight / rq->load;
	simtime_t ran = s->now - c->picked_at;
	if (ran > ideal)
		return 1;
	if (ran < k->slice_ns)
		return 0;
	struct kent *left = leftmost(rq, c);
	return left && c->vruntime - left->vruntime > ideal;
}

static struct kent *pick_next(struct sim *s, struct krq *rq)
{
	struct kvm *k = kvm_of(s);
	if (k->prm->cfs)
		return pick_cfs(s, rq);
	struct kent *b = rq->buddy;
	if (k->prm->yield_buddy && b && b->on_rq && eligible(rq, b) &&
	    (!b->v->running_on || rq->curr == b))
		return b;
	return pick_eevdf(k, rq);
}

/* ---- migration and balancing */

static void migrate(struct sim *s, struct kent *e, int to)
{
	struct kvm *k = kvm_of(s);
	struct krq *from = &k->rq[e->cpu];
	update_curr(s, from);
	dequeue(s, from, e);
	update_curr(s, &k->rq[to]);
	enqueue(s, &k->rq[to], e, to, 0);
}

/* The thread to pull from rq to cpu: waiting, allowed there, of weight <= max_w
 * once shifted right by the balance failures so far (detach_tasks, migrate_load:
 * shr_bound(load, nr_balance_failed) > imbalance skips a task, so that repeated
 * failures let a heavier task move and a stuck placement does not stay stuck),
 * least recently run (the tail of Linux's cfs_tasks list). */
static struct kent *pull_candidate(struct krq *rq, int cpu, int64_t max_w, int failed)
{
	struct kent *best = NULL;
	if (failed > 62)
		failed = 62;
	for (struct kent *e = rq->head; e; e = e->next) {
		if (e == rq->curr || e->v->running_on || e->v->state != VCPU_RUNNABLE ||
		    !bitmap_test(e->v->affinity, cpu) || (e->weight >> failed) > max_w)
			continue;
		if (!best || e->last_ran < best->last_ran)
			best = e;
	}
	return best;
}

/* Pulls one thread to cpu if the balance rules allow it; returns it or NULL. */
static struct kent *balance(struct sim *s, int cpu, int periodic)
{
	struct kvm *k = kvm_of(s);
	struct krq *me = &k->rq[cpu];
	int n = s->host.npcpus;
	int busiest = -1;
	for (int i = 1; i < n; i++) {
		int q = (cpu + i) % n;
		struct krq *r = &k->rq[q];
		if (r->nr < 2)
			continue;
		if (busiest < 0 || (me->nr == 0 ? r->nr > k->rq[busiest].nr : r->load > k->rq[busiest].load))
			busiest = q;
	}
	if (busiest < 0)
		return NULL;
	struct krq *b = &k->rq[busiest];
	int64_t max_w;
	if (me->nr == 0)
		max_w = INT64_MAX;                  /* spare capacity: move a task */
	else if (b->load > me->load)
		max_w = (b->load - me->load) / 2;   /* migrate_load: fits in the imbalance */
	else
		return NULL;
	struct kent *e = pull_candidate(b, cpu, max_w, me->nr_balance_failed);
	if (e) {
		migrate(s, e, cpu);
		me->nr_balance_failed = 0;
	} else if (periodic) {
		me->nr_balance_failed++;   /* load_balance: not for CPU_NEWLY_IDLE */
	}
	return e;
}

/* After a thread arrives on rq (wake-up or pull): preempt if it is the pick. */
static void check_preempt(struct sim *s, int cpu, struct kent *se, int resched)
{
	struct krq *rq = &kvm_of(s)->rq[cpu];
	struct pcpu *p = &s->host.pcpus[cpu];
	if (!p->curr || !rq->curr || resched ||
	    (kvm_of(s)->prm->cfs ? wakeup_preempt_entity(s, rq->curr, se) == 1 : pick_eevdf(kvm_of(s), rq) == se))
		sim_raise_schedule(s, p);
}

/* ---- ticks */

#define TICK_SPREAD_NS 1000

static simtime_t tick_jitter(struct sim *s, struct pcpu *p)
{
	return s->sc->activity ? (simtime_t)gsl_rng_uniform_int(p->rng, TICK_SPREAD_NS) : 0;
}

static void tick_event(struct sim *s, struct event *ev)
{
	struct kvm *k = kvm_of(s);
	struct pcpu *p = ev->owner;
	struct krq *rq = &k->rq[p->id];
	/* the tick is a hard-interrupt hrtimer forwarded on a fixed grid
	 * (tick_sched_timer, hrtimer_forward: kernel/time/tick-sched.c), the same on
	 * every CPU without skew_tick. Its handler runs in the interrupt, on the grid:
	 * not late by the profile's timer lateness, which is a sleeping thread's
	 * wake-up (on the reference host vCPU threads stop within 1 us of the grid on
	 * both CPUs, docs/host-profile.md). That 1 us spread is drawn per tick, so
	 * that which CPU's tick comes first at an instant is not always the same */
	simtime_t grid = rq->tick_grid;   /* this tick's instant on the grid */
	rq->tick_grid += k->tick_ns;
	sim_at(s, ev, rq->tick_grid + tick_jitter(s, p));
	if (update_curr(s, rq) || (k->prm->cfs && cfs_tick_preempt(s, rq)))
		sim_raise_schedule(s, p);
	/* the periodic balance is due when jiffies reach rq->next_balance, both
	 * counted in ticks (sched_balance_trigger, sched_balance_domains): so it is
	 * compared on the grid. A comparison with the jittered time of the tick
	 * postponed a due balance by a tick whenever this tick's jitter was less
	 * than the last one's: half the time */
	if (grid >= rq->next_balance) {
		int idle = rq->nr == 0;
		struct kent *e = balance(s, p->id, 1);
		if (e)
			check_preempt(s, p->id, e, 0);
		rq->next_balance = grid + (idle ? k->balance_ns : 16 * k->balance_ns);
	}
}

/* ---- pause-loop exiting and directed yield */

static int spinning(const struct vcpu *v)
{
	return v->g.st == G_LOCK_SPIN || v->g.st == G_BARRIER_SPIN || v->g.st == G_P2P_SPIN ||
	       v->g.st == G_TLB_SPIN;
}

static int kernel_mode(const struct vcpu *v)
{
	return v->g.st == G_CRITICAL || v->g.st == G_LOCK_SPIN || v->g.st == G_SYS ||
	       v->g.st == G_TLB_SPIN;
}

static simtime_t cycles_ns(struct sim *s, int64_t cycles)
{
	simtime_t ns = (simtime_t)((double)cycles / s->host.ghz + 0.5);
	return ns > 0 ? ns : 1;
}

static void spin(struct sim *s, struct vcpu *v)
{
	struct kvm *k = kvm_of(s);
	if (!k->prm->ple || (v->g.st != G_LOCK_SPIN && v->g.st != G_TLB_SPIN && !k->prm->ple_user))
		return;   /* barrier and hand-off flag spins are user mode */
	struct kent *e = ent(s, v);
	sim_at(s, &e->ple_ev, s->now + cycles_ns(s, e->ple_window));
}

/* yield_to: 1 yielded, 0 not possible, -1 both runqueues have a single thread */
static int yield_to(struct sim *s, struct kent *me, struct kent *t)
{
	struct kvm *k = kvm_of(s);
	if (!t->on_rq || t->v->running_on || t->v->state != VCPU_RUNNABLE)
		return 0;
	struct krq *src = &k->rq[me->cpu], *dst = &k->rq[t->cpu];
	if (src->nr == 1 && dst->nr == 1)
		return -1;
	dst->buddy = t;                                /* yield_to_task_fair: set_next_buddy */
	if (src->nr > 1) {                             /* yield_task_fair */
		update_curr(s, src);
		if (src->buddy == me)
			src->buddy = NULL;
		if (k->prm->cfs) {
			src->skip = me;                /* CFS: set_skip_buddy */
		} else {
			me->deadline += vdelta(k->slice_ns, me->weight);
			me->protect = 0;
		}
	}
	sim_raise_schedule(s, &s->host.pcpus[me->cpu]);   /* schedule() */
	if (dst != src)
		sim_raise_schedule(s, &s->host.pcpus[t->cpu]);   /* resched_curr(p_rq) */
	return 1;
}

static void ple_event(struct sim *s, struct event *ev)
{
	struct kvm *k = kvm_of(s);
	struct kent *me = ev->owner;
	struct vcpu *v = me->v;
	if (!v->running_on || v->state != VCPU_RUNNING || !spinning(v))
		return;
	if (v->running_on->host_busy) {
		/* stalled by host activity: it spins again once resumed */
		sim_at(s, ev, v->running_on->host_until + cycles_ns(s, me->ple_window));
		return;
	}
	me->ple_exits++;
	/* grow_ple_window */
	int64_t g = k->prm->ple_window_grow, w = me->ple_window;
	if (g < 1)
		w = k->prm->ple_window;
	else if (g < k->prm->ple_window)
		w *= g;
	else
		w += g;
	me->ple_window = w < k->prm->ple_window_max ? w : k->prm->ple_window_max;
	/* kvm_vcpu_on_spin */
	struct vm *vm = v->vm;
	int in_kernel = kernel_mode(v);
	if (vm->nvcpus > 1) {
		int tries = 3;
		int start = k->last_boosted[vm->id] + 1;
		for (int i = 0; i < vm->nvcpus; i++) {
			int idx = (start + i) % vm->nvcpus;
			if (idx == v->idx)
				continue;
			struct vcpu *tv = &vm->vcpus[idx];
			struct kent *t = ent(s, tv);
			if (tv->state != VCPU_RUNNABLE || tv->running_on)
				continue;             /* not ready: running or blocked */
			if (t->preempted && in_kernel && !kernel_mode(tv))
				continue;             /* preempted in user mode */
			/* kvm_vcpu_eligible_for_directed_yield */
			int in_spin = spinning(tv);
			int ok = !in_spin || t->dy_eligible;
			if (in_spin)
				t->dy_eligible = !t->dy_eligible;
			if (!ok)
				continue;
			int r = yield_to(s, me, t);
			if (r > 0) {
				k->last_boosted[vm->id] = idx;
				me->yields++;
				break;
			}
			if (r < 0 && !--tries)
				break;
		}
	}
	me->dy_eligible = 0;
	/* back in the guest, still spinning: the next exit after the new window */
	sim_at(s, &me->ple_ev, s->now + cycles_ns(s, me->ple_window));
}

/* ---- the policy operations */

static int select_cpu(struct sim *s, struct vcpu *v)
{
	struct kvm *k = kvm_of(s);
	int n = s->host.npcpus, prev = v->processor;
	/* available_idle_cpu: nothing queued and no other (host) task running */
	if (bitmap_test(v->affinity, prev) && k->rq[prev].nr == 0 && !s->host.pcpus[prev].host_busy)
		return prev;
	for (int i = 1; i < n; i++) {
		int q = (prev + i) % n;
		if (bitmap_test(v->affinity, q) && k->rq[q].nr == 0 && !s->host.pcpus[q].host_busy)
			return q;
	}
	return bitmap_test(v->affinity, prev) ? prev : bitmap_cycle(v->affinity, n, prev);
}

static void wake(struct sim *s, struct vcpu *v)
{
	struct kvm *k = kvm_of(s);
	struct kent *e = ent(s, v);
	vm_count(s, e, 1);
	if (v->running_on || e->on_rq)
		return;   /* blocked and woken within one instant: it never left */
	int cpu = select_cpu(s, v);
	struct krq *rq = &k->rq[cpu];
	int resched = update_curr(s, rq);
	if (v->wake_new) {
		/* a native thread's creation (wake_up_new_task): a new entity, with
		 * no lag and half a slice (PLACE_DEADLINE_INITIAL; CFS: START_DEBIT),
		 * that does not preempt the runner (WF_FORK): it waits for the
		 * runner's next tick or reschedule */
		e->started = 0;
		e->vlag = 0;
		enqueue(s, rq, e, cpu, 1);
		struct pcpu *p = &s->host.pcpus[cpu];
		if (!p->curr || !rq->curr || resched)
			sim_raise_schedule(s, p);
		return;
	}
	enqueue(s, rq, e, cpu, 1);
	check_preempt(s, cpu, e, resched);
}

static void sleep_(struct sim *s, struct vcpu *v)
{
	struct kent *e = ent(s, v);
	e->preempted = 0;
	vm_count(s, e, 0);
	if (v->running_on)
		sim_raise_schedule(s, v->running_on);   /* dequeued when it switches */
	else if (e->on_rq)
		dequeue(s, &kvm_of(s)->rq[e->cpu], e);
}

static struct vcpu *do_schedule(struct sim *s, struct pcpu *p, simtime_t *slice)
{
	struct kvm *k = kvm_of(s);
	struct krq *rq = &k->rq[p->id];
	struct vcpu *prev = p->curr;
	struct kent *pe = prev ? ent(s, prev) : NULL;
	*slice = SIMTIME_NEVER;   /* ticks and wake-ups drive decisions */
	update_curr(s, rq);
	if (pe && prev->state == VCPU_BLOCKED && pe->on_rq)
		dequeue(s, rq, pe);
	/* a host task ran (sim.c): the vCPU thread was put back as preempted
	 * (put_prev_entity), so it no longer has RUN_TO_PARITY's protection */
	if (pe && p->host_preempted)
		pe->protect = 0;
	struct kent *next = pick_next(s, rq);
	if (!next && balance(s, p->id, 0))
		next = pick_next(s, rq);
	if (rq->buddy == next)
		rq->buddy = NULL;
	if (rq->skip == next)
		rq->skip = NULL;
	if (pe && pe != next) {
		pe->last_ran = s->now;
		if (prev->state == VCPU_RUNNING)
			pe->preempted = 1;   /* kvm_sched_out while runnable */
		evq_cancel(&s->q, &pe->ple_ev);
	}
	rq->curr = next;
	if (pe && next && next != pe && !next->v->vm->native && s->sc->activity)
		/* the world switch into next's guest (the top of the file) */
		p->switch_stall = host_hist_draw_ns(&s->sc->profile->vcpu_switch, p->rng);
	if (next) {
		next->protect = 1;     /* set_next_entity: RUN_TO_PARITY */
		next->vprot = next->deadline;   /* set_protect_slice (6.17+) */
		if (next != pe) {
			next->exec_start = sim_task_clock(s, p);
			next->picked_at = s->now;
			next->preempted = 0;
			/* kvm_sched_in -> shrink_ple_window (shrink 0: back to the base) */
			int64_t sh = k->prm->ple_window_shrink, w = next->ple_window;
			if (sh < 1)
				w = k->prm->ple_window;
			else if (sh < k->prm->ple_window)
				w /= sh;
			else
				w -= sh;
			next->ple_window = w > k->prm->ple_window ? w : k->prm->ple_window;
		}
	}
	return next ? next->v : NULL;
}

static void init(struct sim *s)
{
	const struct kvm_params *prm = s->policy_params;
	struct kvm *k = calloc(1, sizeof *k);
	int n = s->host.npcpus;
	s->policy = k;
	k->prm = prm;
	k->e = calloc((size_t)s->nvcpus, sizeof *k->e);
	k->rq = calloc((size_t)n, sizeof *k->rq);
	k->last_boosted = calloc((size_t)s->nvms, sizeof *k->last_boosted);
	k->nrun = calloc((size_t)s->nvms, sizeof *k->nrun);
	if (!k->e || !k->rq || !k->last_boosted || !k->nrun) {
		fprintf(stderr, "vcpusim: out of memory\n");
		exit(1);
	}
	k->tick_ns = NS_PER_SEC / prm->tick_hz;
	int f = 1, m = n < 8 ? n : 8;
	while (m >>= 1)
		f++;
	k->slice_ns = prm->min_granularity_us > 0 ? prm->min_granularity_us * NS_PER_US
						  : 750 * NS_PER_US * f;
	k->latency_ns = 6 * NS_PER_MS * f;
	k->wakeup_ns = 1 * NS_PER_MS * f;
	k->balance_ns = (simtime_t)n * NS_PER_MS;
	if (k->balance_ns < k->tick_ns)
		k->balance_ns = k->tick_ns;
	for (int i = 0; i < s->nvms; i++)
		k->last_boosted[i] = -1;
	for (int i = 0; i < s->nvcpus; i++) {
		struct kent *e = &k->e[i];
		e->v = s->vcpus[i];
		e->weight = (int64_t)e->v->vm->weight * WSCALE;
		e->cpu = e->v->processor;
		e->last_rq = -1;
		e->ple_window = prm->ple_window;
		event_init(&e->ple_ev, ple_event, e, EV_POLICY);
	}
	for (int i = 0; i < n; i++) {
		event_init(&k->rq[i].tick, tick_event, &s->host.pcpus[i], EV_POLICY);
		k->rq[i].tick_grid = k->tick_ns;
		sim_at(s, &k->rq[i].tick, k->tick_ns + tick_jitter(s, &s->host.pcpus[i]));
	}
}

static void destroy(struct sim *s)
{
	struct kvm *k = kvm_of(s);
	if (!k)
		return;
	free(k->e);
	free(k->rq);
	free(k->last_boosted);
	free(k->nrun);
	free(k);
	s->policy = NULL;
}

static void check(struct sim *s)
{
	struct kvm *k = kvm_of(s);
	for (int i = 0; i < s->host.npcpus; i++) {
		struct krq *rq = &k->rq[i];
		struct pcpu *p = &s->host.pcpus[i];
		int nr = 0;
		int64_t load = 0;
		for (struct kent *e = rq->head; e; e = e->next) {
			nr++;
			load += e->weight;
			if (!e->on_rq || e->cpu != i)
				sim_invariant_failed(s, "kvm: runqueue %d holds a thread of another", i);
		}
		if (nr != rq->nr || load != rq->load)
			sim_invariant_failed(s, "kvm: runqueue %d counts %d threads, load %lld; found %d, %lld",
					     i, rq->nr, (long long)rq->load, nr, (long long)load);
		if (p->curr && rq->curr != ent(s, p->curr))
			sim_invariant_failed(s, "kvm: pCPU %d runs %s.%d but its runqueue's current is another",
					     i, p->curr->vm->name, p->curr->idx);
	}
	for (int i = 0; i < s->nvcpus; i++) {
		struct kent *e = &k->e[i];
		struct vcpu *v = e->v;
		int resched_now = v->running_on && sim_resched_due(s, v->running_on);
		if (v->state != VCPU_BLOCKED && !e->on_rq)
			sim_invariant_failed(s, "kvm: runnable vCPU %s.%d is on no runqueue", v->vm->name, v->idx);
		if (v->state == VCPU_BLOCKED && e->on_rq && !resched_now)
			sim_invariant_failed(s, "kvm: blocked vCPU %s.%d is still queued", v->vm->name, v->idx);
		if (v->running_on && e->cpu != v->running_on->id)
			sim_invariant_failed(s, "kvm: vCPU %s.%d runs on pCPU %d but is queued on %d",
					     v->vm->name, v->idx, v->running_on->id, e->cpu);
	}
}

static void report_vm(struct sim *s, struct vm *vm, cJSON *out)
{
	uint64_t exits = 0, yields = 0;
	for (int i = 0; i < vm->nvcpus; i++) {
		exits += ent(s, &vm->vcpus[i])->ple_exits;
		yields += ent(s, &vm->vcpus[i])->yields;
	}
	cJSON_AddNumberToObject(out, "ple_exits", (double)exits);
	cJSON_AddNumberToObject(out, "directed_yields", (double)yields);
}

const struct sched_ops sched_kvm = {
	.name = "kvm",
	.summary = "KVM: vCPU threads under Linux EEVDF (weights, lag, wake-up preemption, balancing) + pause-loop exiting with directed yield",
	.source = "Linux 6.6 kernel/sched/fair.c; virt/kvm/kvm_main.c kvm_vcpu_on_spin; arch/x86/kvm/vmx/vmx.c PLE",
	.parse = parse,
	.free_params = free,
	.init = init,
	.destroy = destroy,
	.wake = wake,
	.sleep = sleep_,
	.do_schedule = do_schedule,
	.spin = spin,
	.check = check,
	.report_vm = report_vm,
};
