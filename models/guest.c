/* guest.c: what runs inside a vCPU (shared/spec/model.md, "Guest model").
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
 * the policy's long_wait hook. */
#include "models/guest.h"
#include <stdlib.h>
#include "sim/sim.h"
#include "sim/trace.h"

const char *const lock_kind_names[] = { "ticket", "tas", "pvticket", "pmtlock", NULL };

static int is_timed(enum guest_state st)
{
	return st == G_COMPUTE || st == G_CRITICAL || st == G_SYS || st == G_BARRIER_SPIN ||
	       st == G_LOCK_SPIN;
}

/* Charges CPU time of the running segment to what the thread was doing. */
static void charge(struct sim *s, struct vcpu *v)
{
	struct guest_thread *g = &v->g;
	simtime_t dt = s->now - g->seg_start;
	g->seg_start = s->now;
	if (dt <= 0)
		return;
	switch (g->st) {
	case G_COMPUTE:
	case G_CRITICAL:
		v->st.work_ns += dt;
		break;
	case G_SYS:
		v->st.sys_ns += dt;
		break;
	case G_LOCK_SPIN:
		v->st.spin_ns += dt;
		v->st.lock_spin_ns += dt;
		break;
	case G_BARRIER_SPIN:
		v->st.spin_ns += dt;
		v->st.barrier_spin_ns += dt;
		break;
	case G_P2P_SPIN:
		v->st.spin_ns += dt;
		v->st.p2p_spin_ns += dt;
		break;
	default:
		break;
	}
	if (is_timed(g->st) && g->remaining != SIMTIME_NEVER)
		g->remaining -= dt;
}

void guest_account(struct sim *s, struct vcpu *v)
{
	if (v->state == VCPU_RUNNING)
		charge(s, v);
}

static int running(const struct vcpu *v) { return v->state == VCPU_RUNNING; }

/* Enters a step; a timed one (remaining != NEVER) gets its completion event if
 * the vCPU runs. */
static void enter(struct sim *s, struct vcpu *v, enum guest_state st, simtime_t remaining)
{
	if (running(v))
		charge(s, v);
	v->g.st = st;
	v->g.remaining = remaining;
	if (running(v) && is_timed(st) && remaining != SIMTIME_NEVER)
		evq_schedule(&s->q, &v->ev, s->now + remaining);   /* re-arms if pending */
	else
		evq_cancel(&s->q, &v->ev);
}

static void next_op(struct sim *s, struct vcpu *v);
static void continue_after(struct sim *s, struct vcpu *v);

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
	    (v->g.st == G_LOCK_SPIN || v->g.st == G_BARRIER_SPIN || v->g.st == G_P2P_SPIN))
		s->ops->spin(s, v);
}

static void record_wait(struct sim *s, struct vcpu *v, simtime_t wait)
{
	struct vm_stats *st = &v->vm->st;
	uint64_t cycles = (uint64_t)ns_to_cycles(&s->host, wait);
	int b = cycles < 2 ? 0 : 63 - __builtin_clzll(cycles);
	st->acquisitions++;
	st->wait_hist[b]++;
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

static void acquired(struct sim *s, struct vcpu *v)
{
	struct guest_thread *g = &v->g;
	struct glock *l = g->lock;
	if (g->wait_prev || l->waiters == v)
		waiter_remove(l, v);
	l->holder = v;
	g->pmt_compete = 0;
	if (s->observe)
		s->observe(s, OBS_LOCK_ACQUIRE, v, l);
	if (running(v))
		charge(s, v);
	record_wait(s, v, s->now - g->wait_start);
	continue_after(s, v);
}

static void lock_request(struct sim *s, struct vcpu *v, struct glock *l, enum guest_next after)
{
	struct guest_thread *g = &v->g;
	g->lock = l;
	g->after = after;
	g->wait_start = s->now;
	if (l->kind != LOCK_TAS)
		g->ticket = l->next_ticket++;
	g->pmt_compete = 0;
	if (s->observe)
		s->observe(s, OBS_LOCK_REQUEST, v, l);
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
		vcpu_send_wake_ipi(s, next, s->guest.ipi_ns);
	}
	/* else: the next ticket's vCPU is preempted; the lock waits for it */
}

/* ---- barrier */

static int barrier_passed(const struct vm *vm, const struct vcpu *v)
{
	return v->g.barrier_gen != vm->barrier.gen;
}

static struct glock *bucket_lock(struct vm *vm) { return &vm->locks[vm->nlocks - 1]; }

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
			charge(s, w);
			evq_cancel(&s->q, &w->ev);
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
	}
}

/* ---- continuations */

static void start_critical(struct sim *s, struct vcpu *v, simtime_t ns, enum guest_next after)
{
	v->g.after = after;
	enter(s, v, G_CRITICAL, ns);
}

static void continue_after(struct sim *s, struct vcpu *v)
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
	switch (g->after) {
	case GN_OP_DONE:
		next_op(s, v);
		return;
	case GN_CRITICAL:
		start_critical(s, v, g->op.cs_ns, GN_RELEASE);
		return;
	case GN_RELEASE:
		lock_release(s, v);
		g->after = GN_OP_DONE;
		continue_after(s, v);   /* pays a pending kick, if any, then next op */
		return;
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
		start_critical(s, v, s->guest.futex_cs_ns + b->nto_wake * s->guest.futex_wake_ns,
			       GN_FUTEX_WOKEN);
		return;
	}
	case GN_FUTEX_CHECKED:
		/* still holding the bucket lock: queue, release, halt; or go */
		if (!barrier_passed(vm, v)) {
			b->sleepers[b->nsleepers++] = v;
			vm->st.futex_sleeps++;
			lock_release(s, v);
			enter(s, v, G_FUTEX_SLEEP, SIMTIME_NEVER);
			vcpu_block(s, v);
		} else {
			lock_release(s, v);
			next_op(s, v);
		}
		return;
	case GN_FUTEX_WOKEN:
		lock_release(s, v);
		for (int i = 0; i < b->nto_wake; i++) {
			vm->st.ipis_sent++;
			vcpu_send_wake_ipi(s, b->to_wake[i], s->guest.ipi_ns);
		}
		b->nto_wake = 0;
		g->after = GN_OP_DONE;
		continue_after(s, v);   /* pays a pending kick, if any, then next op */
		return;
	}
}

/* ---- operations */

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
	for (;;) {
		if (g->op.request && g->st != G_START)
			vm->st.requests++;
		vm->wk->next_op(vm->wstate, vm->wp, v->idx, v->rng, &g->op);
		switch (g->op.kind) {
		case OP_COMPUTE:
			if (g->op.ns <= 0)
				continue;
			enter(s, v, G_COMPUTE, g->op.ns);
			return;
		case OP_LOCK:
			vm->st.lock_calls += g->op.batch > 1 ? (uint64_t)g->op.batch : 1;
			lock_request(s, v, &vm->locks[g->op.lock], GN_CRITICAL);
			return;
		case OP_SIGNAL:
			p2p_signal(s, v, g->op.flag);
			continue;
		case OP_WAIT:
			vm->st.p2p_waits++;
			if (p2p_ready(vm, v))
				continue;
			vm->st.p2p_spun++;
			g->wait_start = s->now;
			enter(s, v, G_P2P_SPIN, SIMTIME_NEVER);
			spin_started(s, v);
			return;
		case OP_BARRIER:
			barrier_arrive(s, v);
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
	}
}

/* The step's timer: a timed step finished on a running vCPU, or a sleep ended. */
static void guest_event(struct sim *s, struct event *e)
{
	struct vcpu *v = e->owner;
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
		/* paravirt ticket spun out: halt until kicked */
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
	switch (g->st) {
	case G_START:
		next_op(s, v);
		return;
	case G_LOCK_SPIN:
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
	case G_FUTEX_SLEEP:
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
}

void guest_add_sys(struct sim *s, struct vcpu *v, simtime_t ns)
{
	v->g.pending_sys += ns;
}

void guest_init_vm(struct sim *s, struct vm *vm)
{
	int nl = vm->wk->locks(vm->wp) + 1;  /* + the futex bucket lock */
	vm->nlocks = nl;
	vm->locks = calloc((size_t)nl, sizeof *vm->locks);
	vm->barrier.total = vm->nvcpus;
	vm->barrier.sleepers = calloc((size_t)vm->nvcpus, sizeof *vm->barrier.sleepers);
	vm->barrier.to_wake = calloc((size_t)vm->nvcpus, sizeof *vm->barrier.to_wake);
	vm->wstate = vm->wk->start(vm->wp, vm->nvcpus);
	vm->nflags = vm->wk->flags ? vm->wk->flags(vm->wp, vm->nvcpus) : 0;
	vm->flags = calloc(vm->nflags > 0 ? (size_t)vm->nflags : 1, sizeof *vm->flags);
	if (!vm->locks || !vm->barrier.sleepers || !vm->barrier.to_wake || !vm->flags) {
		fprintf(stderr, "vcpusim: out of memory\n");
		exit(1);
	}
	/* the workload's locks may be of their own kind; the futex bucket lock (the
	 * last) is always the guest kernel's */
	int wkind = vm->wk->lock_kind ? vm->wk->lock_kind(vm->wp) : -1;
	for (int i = 0; i < nl; i++) {
		vm->locks[i].id = i;
		vm->locks[i].kind = wkind >= 0 && i < nl - 1 ? wkind : (int)s->guest.lock_kind;
	}
	for (int i = 0; i < vm->nvcpus; i++) {
		struct vcpu *v = &vm->vcpus[i];
		event_init(&v->ev, guest_event, v, EV_GUEST);
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
}

const char *guest_check_vm(const struct vm *vm)
{
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
			if (l->kind != LOCK_TAS && n > 0 && w->g.ticket <= last)
				return "ticket waiters out of order";
			last = w->g.ticket;
			n++;
		}
		if (n != l->nwaiters)
			return "lock waiter count does not match the queue";
		if (l->holder && l->holder->g.lock != l)
			return "lock holder does not hold that lock";
		if (l->kind != LOCK_TAS && l->next_ticket - l->owner_ticket !=
		    (uint64_t)(n + (l->holder ? 1 : 0)))
			return "ticket counters do not match holder and waiters";
	}
	return NULL;
}
