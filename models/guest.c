/* guest.c: what runs inside a vCPU (docs/model.md, "Guest model").
 *
 * Each vCPU runs one guest thread that executes its workload's operations. A
 * thread's progress is a sequence of steps; a timed step (compute, critical
 * section, kernel work, a bounded spin) consumes CPU time only while its vCPU is
 * running, so the hypervisor's preemptions stretch it in wall time.
 *
 * Spinlocks (model.md):
 *  - ticket: strict FIFO. On release the lock belongs to the next ticket; if that
 *    waiter's vCPU is not running nobody can take it until it runs again
 *    (lock-waiter preemption), on top of lock-holder preemption.
 *  - tas: on release, any running spinner may take it (chosen with the VM's
 *    random stream); if none runs, the first to run or to ask takes it.
 *  - pvticket: ticket, but a waiter spins at most pv_spin_cycles (Linux's
 *    SPIN_THRESHOLD, 2^15 iterations) then blocks its vCPU; the releaser that hands
 *    the lock to a blocked waiter kicks it with a hypercall (an IPI-like wake-up).
 *  - pmtlock: preemptable ticket lock (Ouyang and Lange, VEE 2013). A waiter takes a
 *    ticket and waits in FIFO order for at most (its distance from the ticket now
 *    served) x pmt_timeout_cycles of spinning; then it competes for the lock like
 *    tas. A waiter whose ticket has come (or been passed) competes too. On release
 *    the ticket now served advances and a running competitor (chosen with the VM's
 *    random stream: a CAS race) takes the lock; so a preempted next waiter no
 *    longer blocks the lock for everybody, at the price of FIFO order.
 *    Interpretation: the timeout is computed once, at the request (as in the
 *    authors' lock), and counts CPU time spent spinning, not wall time.
 *  - qspinlock: Linux's queued spinlock (since 4.2; kernel/locking/qspinlock.c) as
 *    a guest runs it without paravirt spinlocks and with the virt_spin_lock
 *    fallback off (KVM_HINTS_REALTIME, or bare metal): waiters queue in an MCS
 *    queue and only the queue head may take the lock, so the grant order is FIFO
 *    and a preempted head holds the lock up for everybody: it behaves as ticket
 *    here (same code path). Without PV support a KVM guest uses virt_spin_lock's
 *    test-and-set fallback instead: that is tas.
 *  - pvqspinlock: the paravirt qspinlock of Linux 6.1
 *    (kernel/locking/qspinlock_paravirt.h, x86 with 8 pending bits), see the
 *    "pvqspinlock" section below.
 *  Every acquisition's wait (request to acquire, as the guest TSC sees it, so
 *  including time the waiter was itself preempted) goes into a log2-cycles
 *  histogram; waits >= long_wait_cycles are long waits and are reported to the
 *  policy's long_wait hook (ASMan's guest monitor).
 *
 * Barriers follow libgomp (config/linux/bar.c, wait.h): spin for barrier_spin_ns
 * (GOMP_SPINCOUNT), then the futex path: take the futex hash-bucket spinlock,
 * re-check the generation, queue and halt the vCPU. The last arriver bumps the
 * generation (releasing spinners at once), then does futex_wake: takes the bucket
 * lock, and in the 2.6.3x kernels of the paper's era wakes the sleepers inside it
 * (futex_cs_ns + futex_wake_ns each), then each wake is an IPI to a halted vCPU.
 * Interpretation: a futex_wake only wakes sleepers of finished generations, so
 * Linux's rare spurious wake-ups (which go straight back to sleep) are not modelled.
 *
 * Hand-offs (OP_SIGNAL / OP_WAIT, used by NPB LU's pipelined wavefront, whose
 * sync_left/sync_right busy-wait on a shared counter): the VM has an array of
 * counters. A signal increments one (a plain store: no CPU time, no IPI). A wait
 * spins, burning CPU and never blocking, until its counter reaches a value; if
 * the waiter's vCPU is preempted the condition is checked again when it next runs.
 * Unlike a spinlock wait, a hand-off wait is user-space spinning that a guest
 * kernel monitor does not see, so it is counted (p2p results) but not reported to
 * the policy's long_wait hook. A blocking wait (op.block: a thread not created yet,
 * workloads/trace.c) halts its vCPU instead; the signal wakes it with an IPI
 * (ipi_ns, as a futex wake-up), and it is not counted as a hand-off. */
#include "models/guest.h"
#include <stdlib.h>
#include <string.h>
#include "sim/sim.h"
#include "sim/trace.h"
#include "workloads/bsp.h"

const char *const lock_kind_names[] = { "ticket", "tas", "pvticket", "pmtlock", "qspinlock",
					 "pvqspinlock", NULL };

static int is_timed(enum guest_state st)
{
	return st == G_COMPUTE || st == G_CRITICAL || st == G_SYS || st == G_BARRIER_SPIN ||
	       st == G_LOCK_SPIN;
}

static int is_rq_lock(const struct vm *vm, const struct glock *l);

static void charge_other(struct vcpu *v, simtime_t dt);

/* Charges CPU time of the running segment to what the thread was doing. Inline:
 * most calls find nothing to charge (a step entered at the instant its
 * predecessor was charged) or a compute or critical section; the other states
 * are charged out of line. */
static inline void charge(struct sim *s, struct vcpu *v)
{
	struct guest_thread *g = &v->g;
	simtime_t dt = s->now - g->seg_start;
	g->seg_start = s->now;
	if (dt <= 0)
		return;
	if (g->st == G_COMPUTE || g->st == G_CRITICAL) {   /* the common case, before the switch */
		v->st.work_ns += dt;
		if (g->remaining != SIMTIME_NEVER)
			g->remaining -= dt;
		return;
	}
	charge_other(v, dt);
}

__attribute__((noinline)) static void charge_other(struct vcpu *v, simtime_t dt)
{
	struct guest_thread *g = &v->g;
	switch (g->st) {
	case G_COMPUTE:
	case G_CRITICAL:
		break;   /* above */
	case G_SYS:
		v->st.sys_ns += dt;
		break;
	case G_LOCK_SPIN:
		v->st.spin_ns += dt;
		v->st.lock_spin_ns += dt;
		if (v->vm->rq_locks && is_rq_lock(v->vm, g->lock))
			v->vm->st.rq_spin_ns += dt;
		break;
	case G_BARRIER_SPIN:
		v->st.spin_ns += dt;
		v->st.barrier_spin_ns += dt;
		break;
	case G_P2P_SPIN:
		v->st.spin_ns += dt;
		v->st.p2p_spin_ns += dt;
		break;
	case G_TLB_SPIN:
		v->st.spin_ns += dt;
		v->st.tlb_spin_ns += dt;
		break;
	default:
		break;
	}
	if (is_timed(g->st) && g->remaining != SIMTIME_NEVER)
		g->remaining -= dt;
}

void guest_account(struct sim *s, struct vcpu *v)
{
	if (vcpu_executing(v))
		charge(s, v);
}

/* Running guest code now: dispatched and not stalled by host activity
 * (vcpu_executing, as the engine keeps it in g.executing). */
static int running(const struct vcpu *v) { return v->g.executing; }

/* Enters a step; a timed one (remaining != NEVER) gets its completion event if
 * the vCPU runs. */
__attribute__((noinline)) static void enter_slow(struct sim *s, struct vcpu *v,
						 enum guest_state st, simtime_t remaining)
{
	int run = running(v);   /* neither the charge nor the trace changes it */
	if (run)
		charge(s, v);
	v->g.st = st;
	v->g.remaining = remaining;
	if (s->trace)   /* spinning or not: the vCPU's state track */
		trace_vcpu_state(s->trace, s, v);
	if (run && is_timed(st) && remaining != SIMTIME_NEVER)
		evq_schedule(&s->q, &v->ev, s->now + remaining);   /* re-arms if pending */
	else
		evq_cancel(&s->q, &v->ev);
}

/* enter_slow's common case on its own (a running vCPU, no trace, nothing to
 * charge or a compute or critical section's time): the same steps, with the
 * queue's call the only one, last, so that it needs no registers saved. */
static void enter(struct sim *s, struct vcpu *v, enum guest_state st, simtime_t remaining)
{
	struct guest_thread *g = &v->g;
	simtime_t dt = s->now - g->seg_start;
	if (s->trace || !running(v) || (dt > 0 && g->st != G_COMPUTE && g->st != G_CRITICAL)) {
		enter_slow(s, v, st, remaining);
		return;
	}
	g->seg_start = s->now;   /* charge(), for these cases */
	if (dt > 0) {
		v->st.work_ns += dt;
		if (g->remaining != SIMTIME_NEVER)
			g->remaining -= dt;
	}
	g->st = st;
	g->remaining = remaining;
	if (is_timed(st) && remaining != SIMTIME_NEVER)
		evq_schedule(&s->q, &v->ev, s->now + remaining);   /* re-arms if pending */
	else
		evq_cancel(&s->q, &v->ev);
}

static void next_op(struct sim *s, struct vcpu *v);
static void continue_after(struct sim *s, struct vcpu *v);
static void pvq_request(struct sim *s, struct vcpu *v, struct glock *l);
static void kwait_add(struct sim *s, struct vm *vm, enum kwait_cause c, simtime_t w);
static void kwait_add_cycles(struct vm *vm, enum kwait_cause c, simtime_t w, int64_t cycles,
			     int64_t long_cycles);
/* The policy sees the guest's IPIs at the send (sched_ops.ipi, used by dcs). */
static void notify_ipi(struct sim *s, struct vcpu *from, struct vcpu *to)
{
	if (s->ops->ipi)
		s->ops->ipi(s, from, to);
}
static void resched_ipi(struct sim *s, struct vcpu *v, struct vcpu *w);
static void tlb_shootdown(struct sim *s, struct vcpu *v);
static void tlb_done(struct sim *s, struct vcpu *v);
static void tlb_ipi_event(struct sim *s, struct event *e);
static const char *tlb_check(const struct vm *vm);
static void pvq_acquired(struct sim *s, struct glock *l, struct vcpu *v);
static void pvq_release(struct sim *s, struct glock *l, struct vcpu *releaser);
static void pvq_spin_timer(struct sim *s, struct vcpu *v);
static int pvq_dispatched(struct sim *s, struct vcpu *v);
static void pvq_woken(struct sim *s, struct vcpu *v);
static void pvq_poke_next(struct sim *s, struct vcpu *v);
static const char *pvq_check(const struct glock *l);

/* ---- spinlocks */

static void waiter_remove(struct glock *l, struct vcpu *v)
{
	struct guest_thread *g = &v->g;
	if (g->wait_prev)
		g->wait_prev->g.wait_next = g->wait_next;
	else
		l->waiters = g->wait_next;
	if (g->wait_next)
		g->wait_next->g.wait_prev = g->wait_prev;
	else
		l->waiters_tail = g->wait_prev;
	g->wait_prev = g->wait_next = NULL;
	l->nwaiters--;
}

static void waiter_append(struct glock *l, struct vcpu *v)
{
	v->g.wait_next = NULL;
	v->g.wait_prev = l->waiters_tail;
	if (l->waiters_tail)
		l->waiters_tail->g.wait_next = v;
	else
		l->waiters = v;
	l->waiters_tail = v;
	l->nwaiters++;
}

static int grantable(const struct glock *l, const struct vcpu *v)
{
	if (l->holder)
		return 0;
	if (l->kind == LOCK_PMT)
		return v->g.pmt_compete || v->g.ticket <= l->owner_ticket;
	return l->kind == LOCK_TAS || v->g.ticket == l->owner_ticket;
}

/* A running vCPU starts (or resumes) spinning: the policy may watch it (pause-loop
 * exiting in the kvm policy). Called once per continuous spin. */
static void spin_started(struct sim *s, struct vcpu *v)
{
	if (s->ops->spin && running(v) &&
	    (v->g.st == G_LOCK_SPIN || v->g.st == G_BARRIER_SPIN || v->g.st == G_P2P_SPIN ||
	     v->g.st == G_TLB_SPIN))
		s->ops->spin(s, v);
}

static void record_wait(struct sim *s, struct vcpu *v, const struct glock *l, simtime_t wait)
{
	struct vm_stats *st = &v->vm->st;
	int64_t c = ns_to_cycles(&s->host, wait);
	uint64_t cycles = (uint64_t)c;
	int b = cycles < 2 ? 0 : 63 - __builtin_clzll(cycles);
	st->acquisitions++;
	st->wait_hist[b]++;
	kwait_add_cycles(v->vm, is_rq_lock(v->vm, l) ? KW_RQLOCK : KW_SPINLOCK, wait, c,
			 s->guest.long_wait_cycles);
	if (cycles > st->max_wait_cycles)
		st->max_wait_cycles = cycles;
	if (cycles >= (uint64_t)s->guest.long_wait_cycles) {
		st->long_waits++;
		if (s->trace)
			trace_long_wait(s->trace, s, v, (unsigned long long)cycles);
		if (s->ops->long_wait)
			s->ops->long_wait(s, v, cycles);
	}
}

static void acquired_slow(struct sim *s, struct vcpu *v);

/* v takes l, which it asked for at this instant, as neither a pvqspinlock nor
 * with an observer: the common case (not queued, nothing or a compute's time to
 * charge) is acquired_slow's steps for it on their own: a wait of 0 ns is 0
 * cycles, in bucket 0, neither a new maximum nor a long wait (scenarios have
 * guest.long_wait_cycles >= 1), so record_wait only counts it; and
 * continue_after, the one call, comes last. Anything else: acquired_slow. */
static inline __attribute__((always_inline)) void acquire_at_request(struct sim *s, struct vcpu *v,
								     struct glock *l)
{
	struct guest_thread *g = &v->g;
	simtime_t dt = s->now - g->seg_start;
	if (g->wait_prev || l->waiters == v || s->guest.long_wait_cycles < 1 ||
	    (dt > 0 && g->st != G_COMPUTE && g->st != G_CRITICAL && running(v))) {
		acquired_slow(s, v);
		return;
	}
	l->holder = v;
	g->pmt_compete = 0;
	if (running(v)) {   /* charge(), for these cases */
		g->seg_start = s->now;
		if (dt > 0) {
			v->st.work_ns += dt;
			if (g->remaining != SIMTIME_NEVER)
				g->remaining -= dt;
		}
	}
	struct vm *vm = v->vm;
	vm->st.acquisitions++;
	vm->st.wait_hist[0]++;
	vm->st.kwait[is_rq_lock(vm, l) ? KW_RQLOCK : KW_SPINLOCK].n++;
	continue_after(s, v);
}

/* v takes its lock: at the instant it asked for it, as lock_request's free lock
 * (acquire_at_request), else acquired_slow. */
static void acquired(struct sim *s, struct vcpu *v)
{
	struct guest_thread *g = &v->g;
	struct glock *l = g->lock;
	if (g->wait_start != s->now || l->kind == LOCK_PVQSPIN || s->observe) {
		acquired_slow(s, v);
		return;
	}
	acquire_at_request(s, v, l);
}

__attribute__((noinline)) static void acquired_slow(struct sim *s, struct vcpu *v)
{
	struct guest_thread *g = &v->g;
	struct glock *l = g->lock;
	if (g->wait_prev || l->waiters == v)
		waiter_remove(l, v);
	l->holder = v;
	g->pmt_compete = 0;
	if (l->kind == LOCK_PVQSPIN)
		pvq_acquired(s, l, v);
	if (s->observe)
		s->observe(s, OBS_LOCK_ACQUIRE, v, l);
	if (running(v))
		charge(s, v);
	record_wait(s, v, l, s->now - g->wait_start);
	continue_after(s, v);
}

static void lock_request_wait(struct sim *s, struct vcpu *v, struct glock *l);

static void lock_request(struct sim *s, struct vcpu *v, struct glock *l, enum guest_next after)
{
	struct guest_thread *g = &v->g;
	g->lock = l;
	g->after = after;
	g->wait_start = s->now;
	if (l->kind != LOCK_TAS && l->kind != LOCK_PVQSPIN)
		g->ticket = l->next_ticket++;
	g->pmt_compete = 0;
	/* most requests find the lock free: taken here, with continue_after's call
	 * last */
	if (!s->observe && l->kind != LOCK_PVQSPIN && grantable(l, v)) {
		acquire_at_request(s, v, l);
		return;
	}
	lock_request_wait(s, v, l);
}

/* lock_request's other cases: an observer, a pvqspinlock, a lock not free. */
__attribute__((noinline)) static void lock_request_wait(struct sim *s, struct vcpu *v,
							struct glock *l)
{
	struct guest_thread *g = &v->g;
	if (s->observe)
		s->observe(s, OBS_LOCK_REQUEST, v, l);
	if (l->kind == LOCK_PVQSPIN) {
		pvq_request(s, v, l);
		return;
	}
	/* a free tas lock goes to whoever asks first, even past preempted spinners */
	if (grantable(l, v)) {
		acquired(s, v);
		return;
	}
	waiter_append(l, v);
	simtime_t budget = SIMTIME_NEVER;
	if (l->kind == LOCK_PVTICKET)
		budget = (simtime_t)((double)s->guest.pv_spin_cycles / s->host.ghz + 0.5);
	if (l->kind == LOCK_PMT) {
		/* owner_ticket counts releases, so ticket - owner_ticket is the queue
		 * position (1 = next); <= 0: its turn came while the lock is held */
		int64_t pos = (int64_t)(g->ticket - l->owner_ticket);
		if (pos <= 0)
			g->pmt_compete = 1;
		else
			budget = (simtime_t)((double)(pos * s->guest.pmt_timeout_cycles) / s->host.ghz + 0.5);
	}
	enter(s, v, G_LOCK_SPIN, budget);
	spin_started(s, v);
}

/* pmtlock release: the served ticket advances and a running competitor takes the
 * lock (a CAS race, drawn from the VM's stream); none running: the lock stays free
 * for the first eligible waiter to run or to time out. */
static void pmt_release(struct sim *s, struct glock *l, struct vcpu *releaser)
{
	l->owner_ticket++;
	int k = 0;
	for (struct vcpu *w = l->waiters; w; w = w->g.wait_next)
		k += running(w) && w->g.st == G_LOCK_SPIN && grantable(l, w);
	if (k == 0)
		return;
	int pick = (int)gsl_rng_uniform_int(releaser->vm->rng, (unsigned long)k);
	for (struct vcpu *w = l->waiters; w; w = w->g.wait_next)
		if (running(w) && w->g.st == G_LOCK_SPIN && grantable(l, w) && pick-- == 0) {
			acquired(s, w);
			return;
		}
}

static void lock_release(struct sim *s, struct vcpu *v)
{
	struct glock *l = v->g.lock;
	if (s->observe)
		s->observe(s, OBS_LOCK_RELEASE, v, l);
	l->holder = NULL;
	v->g.lock = NULL;
	if (l->kind == LOCK_PMT) {
		pmt_release(s, l, v);
		return;
	}
	if (l->kind == LOCK_PVQSPIN) {
		pvq_release(s, l, v);
		return;
	}
	if (l->kind == LOCK_TAS) {
		int k = 0;
		for (struct vcpu *w = l->waiters; w; w = w->g.wait_next)
			k += running(w) && w->g.st == G_LOCK_SPIN;
		if (k == 0)
			return;
		int pick = (int)gsl_rng_uniform_int(v->vm->rng, (unsigned long)k);
		for (struct vcpu *w = l->waiters; w; w = w->g.wait_next)
			if (running(w) && w->g.st == G_LOCK_SPIN && pick-- == 0) {
				acquired(s, w);
				return;
			}
		return;
	}
	l->owner_ticket++;
	struct vcpu *next = l->waiters;
	if (!next || next->g.ticket != l->owner_ticket)
		return;
	if (running(next) && next->g.st == G_LOCK_SPIN) {
		acquired(s, next);
	} else if (next->g.st == G_LOCK_PARKED) {
		/* paravirt unlock slow path: kick the waiter (a hypercall) */
		v->g.pending_sys += s->guest.kick_ns;
		v->vm->st.ipis_sent++;
		v->vm->st.pv_kicks++;
		vcpu_send_wake_ipi(s, next, s->guest.ipi_ns);
		notify_ipi(s, v, next);
	}
	/* else: the next ticket's vCPU is preempted; the lock waits for it */
}

/* ---- pvqspinlock
 *
 * The paravirt queued spinlock of Linux 6.1 (kernel/locking/qspinlock_paravirt.h,
 * kernel/locking/qspinlock.c; x86, _Q_PENDING_BITS == 8; KVM's pv_wait/pv_kick are
 * kvm_wait (halt if the lock byte still has the value) and the KVM_HC_KICK_CPU
 * hypercall, arch/x86/kernel/kvm.c). The PV slow path skips the pending-bit path
 * (goto pv_queue) and:
 *  - a requester first tries pv_hybrid_queued_unfair_trylock: it takes a free lock
 *    unless the pending bit is set (lock stealing); while the MCS queue is not empty
 *    and pending is clear it stays there spinning unfairly (PVQ_UNFAIR, a tas-like
 *    competitor outside the queue); when the queue is empty or pending is set it
 *    queues. Interpretation: when pending becomes set (or the queue empties) all
 *    unfair spinners queue at that moment, in their order, also those whose vCPU is
 *    preempted (Linux: each does so at its next loop).
 *  - a queue node that is not the head (pv_wait_node) spins SPIN_THRESHOLD
 *    iterations (guest.pv_spin_count), then halts (pv_wait). It halts early
 *    (pv_wait_early, every PV_PREV_CHECK_MASK+1 = 256 iterations) when the node
 *    before it is halted or its vCPU is preempted (vcpu_is_preempted(prev->cpu):
 *    KVM's steal_time.preempted, set by kvm_steal_time_set_preempted when the host
 *    schedules the vCPU thread out, so here: runnable, or stalled by a task-like
 *    host activity, not by an interrupt). Interpretation: the check is taken as
 *    immediate (256 iterations are a few us). A halted node is not woken when it
 *    becomes the head: pv_kick_node only marks it hashed (_Q_SLOW_VAL), and the
 *    holder's unlock kicks it.
 *  - the queue head (pv_wait_head_or_lock) sets pending (no stealing from now on)
 *    and spins SPIN_THRESHOLD iterations for the lock; then clears pending, hashes
 *    the lock (_Q_SLOW_VAL) and halts. It hashes once (the "ONCE" branch): after
 *    a kick pv_wait returns at once unless the lock byte is _Q_SLOW_VAL again, so a
 *    head woken once spins (pending set) until it gets the lock.
 *  - unlock: if the lock byte is _Q_SLOW_VAL (the head halted), unhash, release,
 *    kick the head (__pv_queued_spin_unlock_slowpath): the unlocker pays kick_ns and
 *    the head wakes after ipi_ns; meanwhile the lock is free with pending clear, so
 *    running unfair spinners and new requesters may steal it. With pending set, only
 *    the head takes the lock: a preempted head holds it up (as qspinlock does).
 * The holder's vCPU is not checked: the lock word does not say who holds it. */

static simtime_t pv_spin_ns(const struct sim *s)
{
	return (simtime_t)((double)s->guest.pv_spin_cycles / s->host.ghz + 0.5);
}

static struct vcpu *pvq_head(const struct glock *l)
{
	for (struct vcpu *w = l->waiters; w; w = w->g.wait_next)
		if (w->g.pvq_role != PVQ_UNFAIR)
			return w;
	return NULL;
}

static struct vcpu *pvq_prev(const struct vcpu *v)
{
	for (struct vcpu *w = v->g.wait_prev; w; w = w->g.wait_prev)
		if (w->g.pvq_role != PVQ_UNFAIR)
			return w;
	return NULL;
}

static struct vcpu *pvq_next(const struct vcpu *v)
{
	for (struct vcpu *w = v->g.wait_next; w; w = w->g.wait_next)
		if (w->g.pvq_role != PVQ_UNFAIR)
			return w;
	return NULL;
}

/* vcpu_is_preempted from KVM's steal-time data (see above). */
static int pvq_vcpu_preempted(const struct vcpu *v)
{
	return v->state == VCPU_RUNNABLE ||
	       (v->state == VCPU_RUNNING && v->running_on->host_busy && v->running_on->host_task);
}

/* pv_wait_early: the node before v is halted or its vCPU preempted. */
static int pvq_wait_early(const struct vcpu *v)
{
	const struct vcpu *p = pvq_prev(v);
	return p && (p->g.st == G_LOCK_PARKED || pvq_vcpu_preempted(p));
}

/* A non-head node spins (pv_wait_node) with a fresh SPIN_THRESHOLD; its timer
 * fires at once when it should halt early. */
static void pvq_node_spin(struct sim *s, struct vcpu *v)
{
	v->g.pvq_role = PVQ_NODE;
	enter(s, v, G_LOCK_SPIN, pv_spin_ns(s));
	if (running(v) && pvq_wait_early(v))
		evq_schedule(&s->q, &v->ev, s->now);
}

/* The node after v may halt early: v was preempted or halted. */
static void pvq_poke_next(struct sim *s, struct vcpu *v)
{
	struct glock *l = v->g.lock;
	if (!l || l->kind != LOCK_PVQSPIN || l->holder == v || v->g.pvq_role == PVQ_UNFAIR ||
	    (v->g.st != G_LOCK_SPIN && v->g.st != G_LOCK_PARKED))
		return;
	struct vcpu *n = pvq_next(v);
	if (n && n->g.pvq_role == PVQ_NODE && n->g.st == G_LOCK_SPIN && running(n))
		evq_schedule(&s->q, &n->ev, s->now);
}

static void pvq_head_spin(struct sim *s, struct vcpu *v);

/* The unfair spinners join the MCS queue (pending was set or the queue emptied). */
static void pvq_queue_unfair(struct sim *s, struct glock *l)
{
	int n = l->nwaiters;
	struct vcpu *w = l->waiters;
	for (int i = 0; i < n && w; i++) {
		struct vcpu *nx = w->g.wait_next;
		if (w->g.pvq_role == PVQ_UNFAIR) {
			waiter_remove(l, w);
			waiter_append(l, w);
			w->g.ticket = l->next_ticket++;
			w->g.pvq_role = PVQ_NODE;
		}
		w = nx;
	}
	/* the first may now be the head (the lock is held: it cannot take it here) */
	struct vcpu *h = pvq_head(l);
	if (h && h->g.pvq_role == PVQ_NODE) {
		h->g.pvq_role = PVQ_HEAD;
		if (running(h))
			pvq_head_spin(s, h);
	}
	/* the others start pv_wait_node (an unfair spin had no budget) */
	for (w = l->waiters; w; w = w->g.wait_next) {
		if (w->g.pvq_role != PVQ_NODE || w->g.st != G_LOCK_SPIN ||
		    w->g.remaining != SIMTIME_NEVER)
			continue;
		if (running(w))
			pvq_node_spin(s, w);
		else
			w->g.remaining = pv_spin_ns(s);
	}
}

/* The running queue head takes a free lock or sets pending and spins. */
static void pvq_head_spin(struct sim *s, struct vcpu *v)
{
	struct glock *l = v->g.lock;
	v->g.pvq_role = PVQ_HEAD;
	if (!l->holder) {
		if (v->g.st != G_LOCK_SPIN)
			enter(s, v, G_LOCK_SPIN, SIMTIME_NEVER);
		acquired(s, v);
		return;
	}
	l->pending = 1;
	enter(s, v, G_LOCK_SPIN, v->g.pvq_hashed ? SIMTIME_NEVER : pv_spin_ns(s));
	pvq_queue_unfair(s, l);
}

static void pvq_halt(struct sim *s, struct vcpu *v)
{
	v->vm->st.pv_halts++;
	enter(s, v, G_LOCK_PARKED, SIMTIME_NEVER);
	pvq_poke_next(s, v);
	vcpu_block(s, v);
}

static void pvq_request(struct sim *s, struct vcpu *v, struct glock *l)
{
	struct guest_thread *g = &v->g;
	g->pvq_role = PVQ_NONE;
	g->pvq_hashed = g->pvq_kicked = 0;
	if (!l->holder && !l->pending) {
		acquired(s, v);   /* fast path, or a steal */
		return;
	}
	int queued = pvq_head(l) != NULL;
	waiter_append(l, v);
	if (queued && !l->pending) {
		g->pvq_role = PVQ_UNFAIR;
		enter(s, v, G_LOCK_SPIN, SIMTIME_NEVER);
	} else {
		g->ticket = l->next_ticket++;
		if (queued) {
			pvq_node_spin(s, v);
		} else {
			pvq_head_spin(s, v);
			if (l->holder == v)
				return;
		}
	}
	spin_started(s, v);
}

static void pvq_acquired(struct sim *s, struct glock *l, struct vcpu *v)
{
	if (v->g.pvq_role == PVQ_HEAD)
		l->pending = 0;   /* trylock_clear_pending */
	v->g.pvq_role = PVQ_NONE;
	struct vcpu *h = pvq_head(l);
	if (!h) {
		pvq_queue_unfair(s, l);   /* no queue: unfair spinners queue up */
		return;
	}
	if (h->g.pvq_role == PVQ_HEAD)
		return;
	/* the MCS lock passes to the next node (arch_mcs_spin_unlock_contended) */
	h->g.pvq_role = PVQ_HEAD;
	if (h->g.st == G_LOCK_PARKED)
		h->g.pvq_hashed = 1;   /* pv_kick_node: hashed; the unlock kicks it */
	else if (running(h))
		pvq_head_spin(s, h);
	/* else a preempted node: it starts its head loop when it runs */
}

static void pvq_release(struct sim *s, struct glock *l, struct vcpu *releaser)
{
	struct vcpu *h = pvq_head(l);
	if (h && h->g.st == G_LOCK_PARKED && h->g.pvq_hashed && !h->g.pvq_kicked) {
		/* _Q_SLOW_VAL: unhash, release, pv_kick the head */
		h->g.pvq_kicked = 1;
		releaser->g.pending_sys += s->guest.kick_ns;
		releaser->vm->st.ipis_sent++;
		releaser->vm->st.pv_kicks++;
		vcpu_send_wake_ipi(s, h, s->guest.ipi_ns);
		notify_ipi(s, releaser, h);
	}
	if (l->pending) {
		if (h && running(h) && h->g.st == G_LOCK_SPIN)
			acquired(s, h);
		return;   /* a preempted head holds the lock up */
	}
	int k = 0;
	for (struct vcpu *w = l->waiters; w; w = w->g.wait_next)
		k += w->g.pvq_role == PVQ_UNFAIR && running(w) && w->g.st == G_LOCK_SPIN;
	if (k == 0)
		return;
	int pick = (int)gsl_rng_uniform_int(releaser->vm->rng, (unsigned long)k);
	for (struct vcpu *w = l->waiters; w; w = w->g.wait_next)
		if (w->g.pvq_role == PVQ_UNFAIR && running(w) && w->g.st == G_LOCK_SPIN &&
		    pick-- == 0) {
			acquired(s, w);
			return;
		}
}

/* The spin timer of a queued waiter: its SPIN_THRESHOLD ran out, or it was told
 * to check pv_wait_early. */
static void pvq_spin_timer(struct sim *s, struct vcpu *v)
{
	struct guest_thread *g = &v->g;
	struct glock *l = g->lock;
	if (g->pvq_role == PVQ_HEAD) {
		if (!l->holder) {
			acquired(s, v);
			return;
		}
		/* clear pending, hash (_Q_SLOW_VAL), halt until the unlock kicks */
		l->pending = 0;
		g->pvq_hashed = 1;
		pvq_halt(s, v);
		return;
	}
	if (g->pvq_role != PVQ_NODE)
		return;
	if (g->remaining <= 0 || pvq_wait_early(v)) {
		pvq_halt(s, v);
		return;
	}
	evq_schedule(&s->q, &v->ev, s->now + g->remaining);
}

/* A pvqspinlock spinner runs again. Returns 1 if handled (no re-arm needed). */
static int pvq_dispatched(struct sim *s, struct vcpu *v)
{
	struct glock *l = v->g.lock;
	switch (v->g.pvq_role) {
	case PVQ_HEAD:
		if (!l->pending || !l->holder) {
			pvq_head_spin(s, v);
			if (l->holder != v)
				spin_started(s, v);
			return 1;
		}
		return 0;
	case PVQ_UNFAIR:
		if (!l->holder && !l->pending) {
			acquired(s, v);
			return 1;
		}
		return 0;
	default:
		if (pvq_wait_early(v)) {
			evq_schedule(&s->q, &v->ev, s->now);
			return 1;
		}
		return 0;
	}
}

/* A halted waiter's vCPU runs again: kicked as the head (it spins for the lock
 * from now on), or spuriously (it spins again: pv_wait_node's loop). */
static void pvq_woken(struct sim *s, struct vcpu *v)
{
	v->g.st = G_LOCK_SPIN;
	if (v->g.pvq_role == PVQ_HEAD) {
		v->g.pvq_hashed = 1;
		pvq_head_spin(s, v);
		if (v->g.lock && v->g.lock->holder != v)
			spin_started(s, v);
		return;
	}
	pvq_node_spin(s, v);
	spin_started(s, v);
}

/* Queue consistency of a pvqspinlock (guest_check_vm). */
static const char *pvq_check(const struct glock *l)
{
	int queued = 0, unfair = 0;
	uint64_t last = 0;
	for (const struct vcpu *w = l->waiters; w; w = w->g.wait_next) {
		if (w->g.pvq_role == PVQ_UNFAIR) {
			unfair++;
			if (w->g.st != G_LOCK_SPIN)
				return "pvqspinlock: an unfair spinner is not spinning";
			continue;
		}
		if (w->g.pvq_role != (queued == 0 ? PVQ_HEAD : PVQ_NODE))
			return "pvqspinlock: the first queued waiter is not the head, or a node is";
		if (queued > 0 && w->g.ticket <= last)
			return "pvqspinlock: queue out of order";
		last = w->g.ticket;
		queued++;
	}
	if (unfair && (!queued || l->pending))
		return "pvqspinlock: unfair spinners without a queue, or with pending set";
	if (l->pending && (!queued || l->waiters == NULL))
		return "pvqspinlock: pending set without a queue head";
	if (l->pending) {
		const struct vcpu *h = pvq_head(l);
		if (h->g.st != G_LOCK_SPIN)
			return "pvqspinlock: pending set but the head is halted";
	}
	return NULL;
}

/* ---- barrier */

static int barrier_passed(const struct vm *vm, const struct vcpu *v)
{
	return v->g.barrier_gen != vm->barrier.gen;
}

static struct glock *bucket_lock(struct vm *vm) { return &vm->locks[vm->nlocks - 1]; }

/* guest.ttwu_rq_lock: vCPU i's runqueue lock, just before the bucket lock. */
static struct glock *rq_lock(struct sim *s, struct vcpu *v)
{
	(void)s;
	return &v->vm->locks[v->vm->nlocks - 1 - v->vm->nvcpus + v->idx];
}

static int is_rq_lock(const struct vm *vm, const struct glock *l)
{
	return vm->rq_locks && l->id >= vm->nlocks - 1 - vm->nvcpus && l->id < vm->nlocks - 1;
}

static void barrier_arrive(struct sim *s, struct vcpu *v)
{
	struct vm *vm = v->vm;
	struct gbarrier *b = &vm->barrier;
	v->g.barrier_gen = b->gen;
	v->g.barrier_arrival = s->now;
	if (++b->arrived < b->total) {
		enter(s, v, G_BARRIER_SPIN, s->guest.barrier_spin_ns);
		spin_started(s, v);
		return;
	}
	/* last arriver: release everybody, then futex_wake */
	b->arrived = 0;
	b->gen++;
	vm->st.barriers++;
	for (int i = 0; i < vm->nvcpus; i++) {
		struct vcpu *w = &vm->vcpus[i];
		if (w != v && w->g.st == G_BARRIER_SPIN && running(w)) {
			/* its spin timer stays queued: next_op ends in enter(), which
			 * re-arms it in place (same key as a cancel and a fresh schedule:
			 * the sequence number is taken then) or cancels it, and nothing on
			 * the way looks at it */
			charge(s, w);
			next_op(s, w);
		}
	}
	lock_request(s, v, bucket_lock(vm), GN_FUTEX_WAKE);
}

/* ---- hand-offs */

static int p2p_ready(const struct vm *vm, const struct vcpu *v)
{
	return vm->flags[v->g.op.flag] >= v->g.op.value;
}

/* A hand-off wait ends (its wall time as the guest sees it is recorded). */
static void p2p_done(struct sim *s, struct vcpu *v)
{
	struct vm *vm = v->vm;
	simtime_t w = s->now - v->g.wait_start;
	if (w > vm->st.p2p_wait_max)
		vm->st.p2p_wait_max = w;
	if (ns_to_cycles(&s->host, w) >= s->guest.long_wait_cycles) {
		vm->st.p2p_long_waits++;
		if (s->guest.monitor_user && s->ops->long_wait)
			s->ops->long_wait(s, v, (uint64_t)ns_to_cycles(&s->host, w));
	}
	if (running(v))
		charge(s, v);
	next_op(s, v);
}

static void p2p_signal(struct sim *s, struct vcpu *v, int flag)
{
	struct vm *vm = v->vm;
	vm->flags[flag]++;
	/* running spinners see the store at once; preempted ones when they run.
	 * op.kind is checked too: a thread released from a wait that is still
	 * fetching its next ops (this may be one) keeps G_P2P_SPIN meanwhile. */
	for (int i = 0; i < vm->nvcpus; i++) {
		struct vcpu *w = &vm->vcpus[i];
		if (w != v && w->g.st == G_P2P_SPIN && w->g.op.kind == OP_WAIT &&
		    w->g.op.flag == flag && running(w) && p2p_ready(vm, w))
			p2p_done(s, w);
		else if (w != v && w->g.st == G_FUTEX_SLEEP && w->g.op.kind == OP_WAIT &&
			 w->g.op.block && w->g.op.flag == flag && p2p_ready(vm, w)) {
			/* a halted (blocking) waiter: one wake-up IPI, as a futex wake */
			w->g.op.block = 0;
			w->wake_new = vm->native;   /* a native thread is created (clone) */
			resched_ipi(s, v, w);
		}
	}
}

/* ---- guest kernel IPIs: TLB shootdowns, reschedule IPIs
 *
 * TLB shootdown (Linux 6.1 arch/x86/mm/tlb.c flush_tlb_mm_range ->
 * native_flush_tlb_multi -> on_each_cpu_cond_mask(tlb_is_not_lazy, ...),
 * kernel/smp.c smp_call_function_many_cond): the initiator sends a flush IPI to
 * every other CPU of the process that is not idle in lazy TLB mode, then spins
 * (csd_lock_wait, a cpu_relax loop: PAUSE, so pause-loop exiting sees it) until
 * each has run flush_tlb_func and released its csd. A target handles the IPI when
 * its vCPU executes. One that executes at the send gets it guest.tlb_ipi_ns later:
 * the host profile's tlb_ipi_ns, measured by `vcpusim calibrate` as a real
 * shootdown's extra time on its initiator less the target's handler (the send,
 * the delivery to a running CPU and the csd unlock reaching csd_lock_wait), not
 * the wake-up of a sleeping thread (guest.ipi_ns). A target that does not execute
 * at the send (preempted, stalled by host activity, halted) is sent it as a
 * wake-up: guest.ipi_ns later, and if it does not execute then, when it next
 * enters the guest, so one preempted target stalls the initiator for as long as
 * it waits for a pCPU. (A target already has the IPI in flight, or its handler
 * running, when another initiator asks: smp_call_function_many_cond sends an IPI
 * only when llist_add finds the target's call_single_queue empty, and the handler
 * runs every queued csd, so that one IPI serves both.) In the model the targets are the VM's other vCPUs except
 * those whose thread sleeps (futex, OP_SLEEP: idle, lazy TLB) or has ended.
 * The target acknowledges when its handler is done (kernel/smp.c,
 * __flush_smp_call_function_queue: a synchronous csd is unlocked after its
 * function ran): the handler (interrupt entry, flush_tlb_func, exit) takes
 * guest.tlb_flush_ns of the target's CPU, from the host profile's tlb_flush_ns
 * (`vcpusim calibrate` measures it; 0 = acknowledged on arrival, as before it was
 * measured). It interrupts what the target was doing: a timed step is pushed back
 * by as much, and the time is charged to that step (interpretation: a spinning
 * target keeps noticing its own events meanwhile). A target preempted inside the
 * handler finishes it when it runs again; requests that arrive during the handler
 * are acknowledged at its end with the others. A halted target (pv lock wait) is
 * woken by the interrupt and acknowledges after the handler's time (interpretation:
 * the wake-up's own delay and the halt's CPU are not modelled). The initiator's wait is a guest kernel wait:
 * recorded per VM (kernel_waits.tlb_shootdown) and, when at least long_wait_cycles,
 * reported to the policy's long_wait hook like a long spinlock wait (the paper's
 * guest monitor sees kernel busy-waits).
 * PV TLB flush (guest.pv_tlb_flush; KVM, Linux 4.16+, arch/x86/kernel/kvm.c
 * kvm_flush_tlb_multi): a target whose steal-time `preempted` flag is set is not
 * sent an IPI; KVM_VCPU_FLUSH_TLB is set instead and the host flushes at its next
 * entry (record_steal_time), so the initiator does not wait for it.
 * Reschedule IPIs: the futex wake-ups of a barrier's sleepers (above) are Linux's
 * try_to_wake_up on a remote CPU: an IPI that the waker does not wait for
 * (ttwu_queue_wakelist, asynchronous); the woken thread's wait from the send to
 * its vCPU running is recorded as kernel_waits.resched_ipi (not reported to the
 * policy: nobody spins for it). */

/* A wait of w ns, cycles = ns_to_cycles(w) (which the caller has already). */
static void kwait_add_cycles(struct vm *vm, enum kwait_cause c, simtime_t w, int64_t cycles,
			     int64_t long_cycles)
{
	struct kwait *k = &vm->st.kwait[c];
	k->n++;
	k->total += w;
	if (w > k->max)
		k->max = w;
	if (cycles >= long_cycles)
		k->long_n++;
}

static void kwait_add(struct sim *s, struct vm *vm, enum kwait_cause c, simtime_t w)
{
	kwait_add_cycles(vm, c, w, ns_to_cycles(&s->host, w), s->guest.long_wait_cycles);
}

/* The initiator has every acknowledgement: its wait ends. */
static void tlb_done(struct sim *s, struct vcpu *v)
{
	simtime_t w = s->now - v->g.wait_start;
	kwait_add(s, v->vm, KW_TLB, w);
	uint64_t cycles = (uint64_t)ns_to_cycles(&s->host, w);
	if (cycles >= (uint64_t)s->guest.long_wait_cycles) {
		if (s->trace)
			trace_long_wait(s->trace, s, v, (unsigned long long)cycles);
		if (s->ops->long_wait)
			s->ops->long_wait(s, v, cycles);
	}
	if (running(v))
		charge(s, v);
	next_op(s, v);
}

/* Target t runs flush_tlb_func for every initiator that asked it. */
static void tlb_handle(struct sim *s, struct vcpu *t)
{
	struct vm *vm = t->vm;
	unsigned char *req = &vm->tlb_req[(size_t)t->idx * (size_t)vm->nvcpus];
	for (int i = 0; i < vm->nvcpus; i++) {
		if (!req[i])
			continue;
		req[i] = 0;
		struct vcpu *in = &vm->vcpus[i];
		if (--in->g.tlb_wait == 0 && in->g.st == G_TLB_SPIN && running(in))
			tlb_done(s, in);
		/* a preempted initiator sees it when it runs again */
	}
}

/* A flush IPI reaches its target, or the target's handler is done. */
static void tlb_ipi_event(struct sim *s, struct event *e)
{
	struct vcpu *t = e->owner;
	struct guest_thread *g = &t->g;
	simtime_t cost = s->guest.tlb_flush_ns;
	if (!running(t) && t->state != VCPU_BLOCKED) {
		if (g->tlb_handling)
			g->tlb_flush_left = 0;   /* (descheduling saved what was left) */
		else
			g->tlb_irq = 1;   /* delivered at its next entry */
		return;
	}
	if (g->tlb_handling || cost <= 0) {
		g->tlb_handling = 0;
		tlb_handle(s, t);
		return;
	}
	/* the handler starts: it takes cost of the target's CPU */
	g->tlb_handling = 1;
	t->vm->st.tlb_flush_cpu_ns += cost;
	if (running(t) && is_timed(g->st) && g->remaining != SIMTIME_NEVER) {
		charge(s, t);
		g->remaining += cost;
		evq_schedule(&s->q, &t->ev, s->now + g->remaining);
	}
	evq_schedule(&s->q, &t->tlb_ev, s->now + cost);
}

static void tlb_shootdown(struct sim *s, struct vcpu *v)
{
	struct vm *vm = v->vm;
	struct guest_thread *g = &v->g;
	g->wait_start = s->now;
	g->tlb_wait = 0;
	for (int i = 0; i < vm->nvcpus; i++) {
		struct vcpu *t = &vm->vcpus[i];
		if (t == v || t->g.st == G_FUTEX_SLEEP || t->g.st == G_SLEEP || t->g.st == G_DONE ||
		    t->g.st == G_START)
			continue;   /* idle (lazy TLB) or not running the program */
		if (s->guest.pv_tlb_flush && pvq_vcpu_preempted(t)) {
			vm->st.tlb_deferred++;   /* KVM_VCPU_FLUSH_TLB: flushed at entry */
			continue;
		}
		unsigned char *r = &vm->tlb_req[(size_t)t->idx * (size_t)vm->nvcpus + (size_t)v->idx];
		if (*r)
			continue;
		*r = 1;
		g->tlb_wait++;
		vm->st.tlb_ipis++;
		if (!event_pending(&t->tlb_ev) && !t->g.tlb_irq)
			evq_schedule(&s->q, &t->tlb_ev,
				     s->now + (running(t) ? s->guest.tlb_ipi_ns : s->guest.ipi_ns));
		notify_ipi(s, v, t);
	}
	if (g->tlb_wait == 0) {
		kwait_add(s, vm, KW_TLB, 0);
		next_op(s, v);
		return;
	}
	enter(s, v, G_TLB_SPIN, SIMTIME_NEVER);
	spin_started(s, v);
}

/* Consistency of the shootdown bookkeeping (guest_check_vm), after every event
 * under --check. Summing the V x V request matrix by columns after every event
 * made --check quadratic in a VM's vCPUs, with a strided walk, even for workloads
 * that never shoot down (a 47-vCPU lock convoy spent 80% of its time here, and
 * timed out under the fuzzer: issue 13). When no initiator awaits anything, the
 * matrix must be all zero: a sequential scan a word at a time checks that
 * (V*V/8 loads); the column sums run only while a shootdown is pending. */
static const char *tlb_check(const struct vm *vm)
{
	int awaited = 0;
	for (int i = 0; i < vm->nvcpus; i++) {
		awaited += vm->vcpus[i].g.tlb_wait;
		if (vm->vcpus[i].g.tlb_wait && vm->vcpus[i].g.st != G_TLB_SPIN)
			return "TLB shootdown: requests pending but the initiator is not waiting";
	}
	const size_t n = (size_t)vm->nvcpus * (size_t)vm->nvcpus;
	if (awaited == 0) {
		uint64_t any = 0, w;
		size_t k = 0;
		for (; k + sizeof w <= n; k += sizeof w) {
			memcpy(&w, vm->tlb_req + k, sizeof w);
			any |= w;
		}
		for (; k < n; k++)
			any |= vm->tlb_req[k];
		return any ? "TLB shootdown: acknowledgements awaited do not match the requests" : NULL;
	}
	for (int i = 0; i < vm->nvcpus; i++) {
		int c = 0;
		for (int t = 0; t < vm->nvcpus; t++)
			c += vm->tlb_req[(size_t)t * (size_t)vm->nvcpus + (size_t)i];
		if (c != vm->vcpus[i].g.tlb_wait)
			return "TLB shootdown: acknowledgements awaited do not match the requests";
	}
	return NULL;
}

/* A futex wake-up's reschedule IPI from v to the halted sleeper w. */
static void resched_ipi(struct sim *s, struct vcpu *v, struct vcpu *w)
{
	v->vm->st.ipis_sent++;
	w->g.ipi_sent_at = s->now;
	vcpu_send_wake_ipi(s, w, s->guest.ipi_ns);
	notify_ipi(s, v, w);
}

/* ---- continuations */

static void start_critical(struct sim *s, struct vcpu *v, simtime_t ns, enum guest_next after)
{
	v->g.after = after;
	enter(s, v, G_CRITICAL, ns);
}

static void continue_after_slow(struct sim *s, struct vcpu *v);

/* A critical section's start (GN_CRITICAL, no kernel work pending): on its own,
 * as continue_after_slow takes it, with enter's call last. */
static void continue_after(struct sim *s, struct vcpu *v)
{
	struct guest_thread *g = &v->g;
	if (g->pending_sys <= 0 && g->after == GN_CRITICAL) {
		g->after = GN_RELEASE;   /* start_critical */
		enter(s, v, G_CRITICAL, g->op.cs_ns);
		return;
	}
	/* A critical section's end (GN_RELEASE) with nobody waiting for the lock, nor
	 * an observer, nor kernel work pending, as continue_after_slow and
	 * lock_release take it: the lock is free (the served ticket advances: ticket
	 * kinds, and pmtlock's pmt_release, which finds no competitor), then the
	 * next op. (A pvqspinlock's release has more to do.) */
	struct glock *l = g->lock;
	if (g->pending_sys <= 0 && g->after == GN_RELEASE && !l->waiters && !s->observe &&
	    l->kind != LOCK_PVQSPIN) {
		l->holder = NULL;
		g->lock = NULL;
		if (l->kind != LOCK_TAS)
			l->owner_ticket++;
		g->after = GN_OP_DONE;
		next_op(s, v);
		return;
	}
	continue_after_slow(s, v);
}

__attribute__((noinline)) static void continue_after_slow(struct sim *s, struct vcpu *v)
{
	struct guest_thread *g = &v->g;
	struct vm *vm = v->vm;
	struct gbarrier *b = &vm->barrier;
	if (g->pending_sys > 0) {
		simtime_t ns = g->pending_sys;
		g->pending_sys = 0;
		enter(s, v, G_SYS, ns);
		return;
	}
	/* the lock's two steps, every critical section's, tested before the switch:
	 * two predictable branches instead of a jump table's indirect one */
	if (g->after == GN_CRITICAL) {
		start_critical(s, v, g->op.cs_ns, GN_RELEASE);
		return;
	}
	if (g->after == GN_RELEASE) {
		lock_release(s, v);
		g->after = GN_OP_DONE;
		/* pays a pending kick, if any, then next op (continue_after's first
		 * two cases, without the switch's indirect jump) */
		if (g->pending_sys > 0)
			continue_after(s, v);
		else
			next_op(s, v);
		return;
	}
	switch (g->after) {
	case GN_OP_DONE:
		next_op(s, v);
		return;
	case GN_CRITICAL:
	case GN_RELEASE:
		return;   /* above */
	case GN_FUTEX_CHECK:
		start_critical(s, v, s->guest.futex_cs_ns, GN_FUTEX_CHECKED);
		return;
	case GN_FUTEX_WAKE: {
		/* take the sleepers of finished generations */
		int kept = 0;
		b->nto_wake = 0;
		for (int i = 0; i < b->nsleepers; i++) {
			struct vcpu *w = b->sleepers[i];
			if (barrier_passed(vm, w))
				b->to_wake[b->nto_wake++] = w;
			else
				b->sleepers[kept++] = w;
		}
		b->nsleepers = kept;
		if (s->guest.ttwu_rq_lock) {   /* each wake-up under the wakee's rq lock */
			g->ttwu_i = 0;
			start_critical(s, v, s->guest.futex_cs_ns, GN_TTWU_NEXT);
			return;
		}
		start_critical(s, v, s->guest.futex_cs_ns + b->nto_wake * s->guest.futex_wake_ns,
			       GN_FUTEX_WOKEN);
		return;
	}
	case GN_TTWU_NEXT:
		if (g->ttwu_i < b->nto_wake) {
			/* try_to_wake_up: task_rq_lock(wakee), still holding the bucket */
			g->outer_lock = g->lock;
			lock_request(s, v, rq_lock(s, b->to_wake[g->ttwu_i]), GN_TTWU_LOCKED);
			return;
		}
		lock_release(s, v);   /* the bucket lock: every sleeper is woken */
		b->nto_wake = 0;
		g->after = GN_OP_DONE;
		continue_after(s, v);
		return;
	case GN_TTWU_LOCKED:
		start_critical(s, v, s->guest.futex_wake_ns, GN_TTWU_DONE);
		return;
	case GN_TTWU_DONE: {
		struct vcpu *w = b->to_wake[g->ttwu_i++];
		lock_release(s, v);   /* the rq lock */
		g->lock = g->outer_lock;
		g->outer_lock = NULL;
		if (w->g.st == G_FUTEX_SLEEP) {
			/* halted: the reschedule IPI (check_preempt_curr -> resched_task) */
			resched_ipi(s, v, w);
		} else {
			/* still on its way into schedule(): it finds itself TASK_RUNNING
			 * and does not sleep */
			w->g.ttwu_early = 1;
		}
		g->after = GN_TTWU_NEXT;
		continue_after(s, v);   /* pays a pending kick, if any */
		return;
	}
	case GN_SCHED_LOCKED:
		start_critical(s, v, s->guest.rq_lock_cs_ns, GN_SCHED_DONE);
		return;
	case GN_SCHED_DONE:
		lock_release(s, v);
		if (g->ttwu_early) {
			g->ttwu_early = 0;
			g->after = GN_OP_DONE;
			continue_after(s, v);
			return;
		}
		enter(s, v, G_FUTEX_SLEEP, SIMTIME_NEVER);
		vcpu_block(s, v);
		return;
	case GN_FUTEX_CHECKED:
		/* still holding the bucket lock: queue, release, halt; or go */
		if (!barrier_passed(vm, v)) {
			b->sleepers[b->nsleepers++] = v;
			vm->st.futex_sleeps++;
			lock_release(s, v);
			if (s->guest.ttwu_rq_lock) {
				/* schedule() deactivates it under its own rq lock */
				lock_request(s, v, rq_lock(s, v), GN_SCHED_LOCKED);
				return;
			}
			enter(s, v, G_FUTEX_SLEEP, SIMTIME_NEVER);
			vcpu_block(s, v);
		} else {
			lock_release(s, v);
			next_op(s, v);
		}
		return;
	case GN_FUTEX_WOKEN:
		lock_release(s, v);
		for (int i = 0; i < b->nto_wake; i++)
			resched_ipi(s, v, b->to_wake[i]);
		b->nto_wake = 0;
		g->after = GN_OP_DONE;
		continue_after(s, v);   /* pays a pending kick, if any, then next op */
		return;
	}
}

/* ---- operations */

static void next_op_other(struct sim *s, struct vcpu *v);

/* Counts the operation just finished if it was a request, fetches the next one,
 * and starts it if it is a compute of more than 0 ns (the commonest kind): 1 if it
 * did, else 0 with the operation in g->op for the caller to start. */
static inline __attribute__((always_inline)) int fetch_op(struct sim *s, struct vcpu *v)
{
	struct guest_thread *g = &v->g;
	struct vm *vm = v->vm;
	if (g->op.request && g->st != G_START)
		vm->st.requests++;
	if (vm->wk == &workload_bsp)   /* the kind's next_op, inline (workloads/bsp.h) */
		bsp_next_op(vm->wstate, bsp_params_of(vm->wp), v->idx, v->rng, &g->op);
	else
		vm->wk->next_op(vm->wstate, vm->wp, v->idx, v->rng, &g->op);
	if (g->op.kind == OP_COMPUTE && g->op.ns > 0) {
		enter(s, v, G_COMPUTE, g->op.ns);
		return 1;
	}
	return 0;
}

/* Fetches the thread's next operation and starts it. The common kinds (a compute,
 * a lock) are started here; the others, and computes of 0 ns (the guest fetches
 * on), by next_op_other, out of line: this function stays small. */
static void next_op(struct sim *s, struct vcpu *v)
{
	struct guest_thread *g = &v->g;
	struct vm *vm = v->vm;
	if (g->op.kind == OP_BARRIER && g->st != G_START && s->guest.monitor_user) {
		/* guest.monitor "all": a monitor that also sees user-level waits reports
		 * a long stay at a barrier (our extension of ASMan's kernel monitor) */
		int64_t c = ns_to_cycles(&s->host, s->now - g->barrier_arrival);
		if (c >= s->guest.long_wait_cycles && s->ops->long_wait)
			s->ops->long_wait(s, v, (uint64_t)c);
	}
	/* the common kinds before the switch (see continue_after) */
	if (fetch_op(s, v))
		return;
	if (g->op.kind == OP_LOCK) {
		vm->st.lock_calls += g->op.batch > 1 ? (uint64_t)g->op.batch : 1;
		lock_request(s, v, &vm->locks[g->op.lock], GN_CRITICAL);
		return;
	}
	next_op_other(s, v);
}

/* Starts the operation next_op fetched, of a kind other than a compute of more
 * than 0 ns or a lock; fetches on while they take no time. */
__attribute__((noinline)) static void next_op_other(struct sim *s, struct vcpu *v)
{
	struct guest_thread *g = &v->g;
	struct vm *vm = v->vm;
	for (;;) {
		switch (g->op.kind) {
		case OP_COMPUTE:   /* of 0 ns (the others are started by next_op) */
			break;
		case OP_LOCK:
			vm->st.lock_calls += g->op.batch > 1 ? (uint64_t)g->op.batch : 1;
			lock_request(s, v, &vm->locks[g->op.lock], GN_CRITICAL);
			return;
		case OP_SIGNAL:
			p2p_signal(s, v, g->op.flag);
			break;
		case OP_WAIT:
			if (g->op.block) {
				/* halts until the signal's IPI (G_FUTEX_SLEEP: when it
				 * runs again, the wake-up's wait is recorded and it goes on) */
				if (p2p_ready(vm, v))
					break;
				enter(s, v, G_FUTEX_SLEEP, SIMTIME_NEVER);
				vcpu_block(s, v);
				return;
			}
			vm->st.p2p_waits++;
			if (p2p_ready(vm, v))
				break;
			vm->st.p2p_spun++;
			g->wait_start = s->now;
			enter(s, v, G_P2P_SPIN, SIMTIME_NEVER);
			spin_started(s, v);
			return;
		case OP_BARRIER:
			barrier_arrive(s, v);
			return;
		case OP_TLB_SHOOTDOWN:
			tlb_shootdown(s, v);
			return;
		case OP_SLEEP:
			enter(s, v, G_SLEEP, SIMTIME_NEVER);
			evq_schedule(&s->q, &v->ev, s->now + (g->op.ns > 0 ? g->op.ns : 0));
			vcpu_block(s, v);
			return;
		case OP_END:
			g->op.request = 0;
			enter(s, v, G_DONE, SIMTIME_NEVER);
			sim_thread_done(s, v);
			vcpu_block(s, v);
			return;
		}
		/* the op took no time: the next one */
		if (fetch_op(s, v))
			return;
	}
}

static void guest_event_slow(struct sim *s, struct vcpu *v);

/* The step's timer: a timed step finished on a running vCPU, or a sleep ended.
 * A compute's or a critical section's end (most of them) here, as
 * guest_event_slow takes it (its charge, then the continuation: the one call,
 * last); the others there. */
static void guest_event(struct sim *s, struct event *e)
{
	struct vcpu *v = e->owner;
	struct guest_thread *g = &v->g;
	if (g->st == G_COMPUTE || g->st == G_CRITICAL) {
		simtime_t dt = s->now - g->seg_start;
		g->seg_start = s->now;
		if (dt > 0)
			v->st.work_ns += dt;   /* (and remaining, set to 0 now) */
		g->remaining = 0;
		if (g->st == G_COMPUTE)
			next_op(s, v);
		else
			continue_after(s, v);
		return;
	}
	guest_event_slow(s, v);
}

__attribute__((noinline)) static void guest_event_slow(struct sim *s, struct vcpu *v)
{
	struct guest_thread *g = &v->g;
	if (g->st == G_SLEEP) {
		vcpu_wake(s, v);
		return;
	}
	charge(s, v);
	g->remaining = 0;
	switch (g->st) {
	case G_COMPUTE:
		next_op(s, v);
		return;
	case G_CRITICAL:   /* the continuation releases the lock */
	case G_SYS:
		continue_after(s, v);
		return;
	case G_BARRIER_SPIN:
		/* spun out: take the futex path */
		lock_request(s, v, bucket_lock(v->vm), GN_FUTEX_CHECK);
		return;
	case G_LOCK_SPIN:
		if (g->lock->kind == LOCK_PMT) {
			/* pmtlock timed out in the queue: compete from now on (the
			 * spin goes on, so no spin_started) */
			g->pmt_compete = 1;
			if (grantable(g->lock, v))
				acquired(s, v);
			else
				enter(s, v, G_LOCK_SPIN, SIMTIME_NEVER);
			return;
		}
		if (g->lock->kind == LOCK_PVQSPIN) {
			pvq_spin_timer(s, v);
			return;
		}
		/* paravirt ticket spun out: halt until kicked */
		v->vm->st.pv_halts++;
		enter(s, v, G_LOCK_PARKED, SIMTIME_NEVER);
		vcpu_block(s, v);
		return;
	default:
		return;
	}
}

void guest_dispatched(struct sim *s, struct vcpu *v)
{
	struct guest_thread *g = &v->g;
	struct vm *vm = v->vm;
	g->seg_start = s->now;
	if (g->tlb_handling && !event_pending(&v->tlb_ev)) {
		/* preempted inside the flush handler: the rest of it first */
		evq_schedule(&s->q, &v->tlb_ev, s->now + g->tlb_flush_left);
	} else if (g->tlb_irq) {
		/* a flush IPI that waited for this entry: delivered now, as an event */
		g->tlb_irq = 0;
		evq_schedule(&s->q, &v->tlb_ev, s->now);
	}
	switch (g->st) {
	case G_START:
		next_op(s, v);
		return;
	case G_LOCK_SPIN:
		if (g->lock->kind == LOCK_PVQSPIN) {
			if (pvq_dispatched(s, v))
				return;
			break;
		}
		if (grantable(g->lock, v)) {
			acquired(s, v);
			return;
		}
		break;
	case G_BARRIER_SPIN:
		if (barrier_passed(vm, v)) {
			next_op(s, v);
			return;
		}
		break;
	case G_P2P_SPIN:
		if (p2p_ready(vm, v))
			p2p_done(s, v);
		else
			spin_started(s, v);
		return;
	case G_LOCK_PARKED:
		if (g->lock->kind == LOCK_PVQSPIN) {
			pvq_woken(s, v);
			return;
		}
		if (grantable(g->lock, v)) {
			g->st = G_LOCK_SPIN;
			acquired(s, v);
		} else {
			/* woken before its turn: spin again with a fresh budget */
			enter(s, v, G_LOCK_SPIN,
			      (simtime_t)((double)s->guest.pv_spin_cycles / s->host.ghz + 0.5));
			spin_started(s, v);
		}
		return;
	case G_TLB_SPIN:
		if (g->tlb_wait == 0)
			tlb_done(s, v);
		else
			spin_started(s, v);
		return;
	case G_FUTEX_SLEEP:
		kwait_add(s, vm, KW_RESCHED, s->now - g->ipi_sent_at);
		next_op(s, v);
		return;
	case G_SLEEP:
		next_op(s, v);
		return;
	default:
		break;
	}
	if (is_timed(g->st) && g->remaining != SIMTIME_NEVER)
		evq_schedule(&s->q, &v->ev, s->now + g->remaining);
	spin_started(s, v);   /* resumes a spin, if it was spinning */
}

void guest_descheduled(struct sim *s, struct vcpu *v)
{
	charge(s, v);
	if (is_timed(v->g.st))
		evq_cancel(&s->q, &v->ev);
	if (v->g.tlb_handling && event_pending(&v->tlb_ev) && v->state != VCPU_BLOCKED) {
		/* preempted inside the flush handler: the rest waits for its next run
		 * (a vCPU that halts finishes it first: the end stays due, and a
		 * halted vCPU acknowledges when it comes) */
		v->g.tlb_flush_left = v->tlb_ev.when - s->now;
		evq_cancel(&s->q, &v->tlb_ev);
	}
	pvq_poke_next(s, v);   /* its successor in a pvqspinlock queue may halt early */
}

void guest_resumed(struct sim *s, struct vcpu *v)
{
	/* the same checks as a dispatch: a lock handed over, a barrier passed or a
	 * hand-off signalled during the stall is seen now */
	guest_dispatched(s, v);
}

void guest_add_sys(struct sim *s, struct vcpu *v, simtime_t ns)
{
	v->g.pending_sys += ns;
}

void guest_init_vm(struct sim *s, struct vm *vm)
{
	/* + the vCPUs' rq locks (guest.ttwu_rq_lock) + the futex bucket lock */
	vm->rq_locks = s->guest.ttwu_rq_lock;
	int nl = vm->wk->locks(vm->wp) + (vm->rq_locks ? vm->nvcpus : 0) + 1;
	vm->nlocks = nl;
	vm->locks = calloc((size_t)nl, sizeof *vm->locks);
	vm->barrier.total = vm->nvcpus;
	vm->barrier.sleepers = calloc((size_t)vm->nvcpus, sizeof *vm->barrier.sleepers);
	vm->barrier.to_wake = calloc((size_t)vm->nvcpus, sizeof *vm->barrier.to_wake);
	vm->wstate = vm->wk->start(vm->wp, vm->nvcpus);
	vm->nflags = vm->wk->flags ? vm->wk->flags(vm->wp, vm->nvcpus) : 0;
	vm->flags = calloc(vm->nflags > 0 ? (size_t)vm->nflags : 1, sizeof *vm->flags);
	vm->tlb_req = calloc((size_t)vm->nvcpus * (size_t)vm->nvcpus, 1);
	if (!vm->locks || !vm->barrier.sleepers || !vm->barrier.to_wake || !vm->flags ||
	    !vm->tlb_req) {
		fprintf(stderr, "vcpusim: out of memory\n");
		exit(1);
	}
	/* the workload's locks may be of their own kind; the rq locks and the futex
	 * bucket lock (the last) are always the guest kernel's */
	int wkind = vm->wk->lock_kind ? vm->wk->lock_kind(vm->wp) : -1;
	int nw = vm->wk->locks(vm->wp);
	for (int i = 0; i < nl; i++) {
		vm->locks[i].id = i;
		vm->locks[i].kind = wkind >= 0 && i < nw ? wkind : (int)s->guest.lock_kind;
	}
	for (int i = 0; i < vm->nvcpus; i++) {
		struct vcpu *v = &vm->vcpus[i];
		event_init(&v->ev, guest_event, v, EV_GUEST);
		event_init(&v->tlb_ev, tlb_ipi_event, v, EV_GUEST);
		v->g.st = G_START;
		v->g.after = GN_OP_DONE;
	}
}

void guest_free_vm(struct vm *vm)
{
	if (vm->wk && vm->wstate)
		vm->wk->stop(vm->wstate);
	free(vm->locks);
	free(vm->barrier.sleepers);
	free(vm->barrier.to_wake);
	free(vm->flags);
	free(vm->tlb_req);
}

const char *guest_check_vm(const struct vm *vm)
{
	const char *te = tlb_check(vm);
	if (te)
		return te;
	/* a vCPU its pCPU runs while its thread sleeps: no event will ever advance
	 * it (the frozen vCPU of issue 13, item 5) */
	for (int i = 0; i < vm->nvcpus; i++) {
		const struct vcpu *v = &vm->vcpus[i];
		if (v->state == VCPU_RUNNING && (v->g.st == G_SLEEP || v->g.st == G_FUTEX_SLEEP ||
						 v->g.st == G_LOCK_PARKED || v->g.st == G_DONE))
			return "a running vCPU's guest thread is asleep: nothing will advance it";
	}
	for (int i = 0; i < vm->nlocks; i++) {
		const struct glock *l = &vm->locks[i];
		int n = 0;
		uint64_t last = 0;
		for (const struct vcpu *w = l->waiters; w; w = w->g.wait_next) {
			if (w->g.lock != l || (w->g.st != G_LOCK_SPIN && w->g.st != G_LOCK_PARKED))
				return "a lock waiter is not waiting for that lock";
			if (w == l->holder)
				return "a lock holder is also queued";
			if (l->kind != LOCK_TAS && l->kind != LOCK_PVQSPIN && n > 0 && w->g.ticket <= last)
				return "ticket waiters out of order";
			last = w->g.ticket;
			n++;
		}
		if (n != l->nwaiters)
			return "lock waiter count does not match the queue";
		if (l->holder && l->holder->g.lock != l && l->holder->g.outer_lock != l)
			return "lock holder does not hold that lock";
		if (l->kind == LOCK_PVQSPIN) {
			const char *e = pvq_check(l);
			if (e)
				return e;
			continue;
		}
		if (l->kind != LOCK_TAS && l->next_ticket - l->owner_ticket !=
		    (uint64_t)(n + (l->holder ? 1 : 0)))
			return "ticket counters do not match holder and waiters";
	}
	return NULL;
}
