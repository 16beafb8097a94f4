/* sim.c: the simulator core. Builds the machine from a scenario, runs the event
 * loop, and carries out what policies decide: context switches, vCPU blocking and
 * waking, wake-up IPIs. It knows nothing of any policy (models/sched.h) nor of
 * what guests compute (models/guest.c).
 *
 * Determinism: one event queue ordered by (time, insertion), one random stream
 * per entity; nothing here iterates over pointers' addresses or hash tables. */
#include "sim/sim.h"
#include "sim/stall.h"
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include "sim/rng.h"
#include "sim/trace.h"
#include "models/guest.h"
#include "models/host.h"
#include "sim/xalloc.h"

int sim_invariant_broken;

/* ---- idle-with-runnable integral (fragmentation, model.md "What a run measures") */

static void iwr_update(struct sim *s)
{
	int idle = s->n_idle_pcpus, waiting = s->n_waiting;
	simtime_t dt = s->now - s->iwr_since;
	if (dt > 0 && idle > 0 && waiting > 0)
		s->idle_with_runnable_ns += dt * (idle < waiting ? idle : waiting);
	s->iwr_since = s->now;
}

/* ---- co-run time (all of a VM's vCPUs executing at once, as `vcpusim kvm`
 * measures together_ms) and ready time (runnable, waiting for a pCPU) */

static void exec_change(struct sim *s, struct vcpu *v, int delta)
{
	struct vm *vm = v->vm;
	if (delta < 0 && vm->n_exec == vm->nvcpus)
		vm->st.together_ns += s->now - vm->together_since;
	vm->n_exec += delta;
	if (delta > 0 && vm->n_exec == vm->nvcpus)
		vm->together_since = s->now;
}

static void ready_end(struct sim *s, struct vcpu *v)
{
	v->st.ready_ns += s->now - v->ready_since;
}

/* ---- timers */

simtime_t sim_timer_late(struct sim *s, struct pcpu *p)
{
	if (!s->sc->activity)
		return 0;
	return host_hist_draw_ns(&s->sc->profile->timer_late, p->rng);
}

/* ---- scheduling events */

static void switch_to(struct sim *s, struct pcpu *p, struct vcpu *next);
static void host_stall(struct sim *s, struct pcpu *p, int k, simtime_t len);

static void sched_event(struct sim *s, struct event *e)
{
	struct pcpu *p = e->owner;
	if (p->host_busy) {
		/* the host holds the pCPU (an interrupt handler or another task runs):
		 * the hypervisor's scheduler runs when it is done */
		evq_schedule(&s->q, &p->sched_ev, p->host_until);
		p->resched_deferred = 1;
		return;
	}
	p->resched_deferred = 0;
	simtime_t slice = SIMTIME_NEVER;
	struct vcpu *next = s->ops->do_schedule(s, p, &slice);
	p->host_preempted = 0;
	if (slice != SIMTIME_NEVER) {
		/* a hypervisor timer: it fires late by the host's timer lateness (Xen
		 * 4.0 schedule() arms s_timer at NOW() + the slice; xen/common/timer.c) */
		p->slice_end = s->now + slice;
		evq_schedule(&s->q, &p->sched_ev, p->slice_end + sim_timer_late(s, p));
	} else {
		p->slice_end = SIMTIME_NEVER;
	}
	switch_to(s, p, next);
	if (p->switch_stall > 0) {
		/* the policy's world switch into the other vCPU it picked (kvm.c) */
		host_stall(s, p, HOST_IRQ, p->switch_stall);
		p->switch_stall = 0;
	}
}

void sim_raise_schedule(struct sim *s, struct pcpu *p)
{
	if (event_pending(&p->sched_ev) && p->sched_ev.when <= s->now)
		return;
	evq_schedule(&s->q, &p->sched_ev, s->now);
}

static void pcpu_account(struct sim *s, struct pcpu *p)
{
	simtime_t dt = s->now - p->since;
	if (p->host_busy) {
		p->steal_ns += dt;
		if (p->host_task || s->irq_excluded)
			p->excl_ns += dt;
	} else if (p->curr)
		p->busy_ns += dt;
	else
		p->idle_ns += dt;
	p->since = s->now;
}

/* ---- host activity (models/host.h): per pCPU, two renewal processes (interrupt-like
 * and task-like activity) with the profile's measured gaps and lengths. An activity
 * stalls the pCPU's vCPU without the policy's knowledge (the vCPU stays current, as
 * a vCPU thread interrupted by an IRQ stays current in Linux, and a Xen vCPU
 * interrupted by Xen's own work), so it is steal time, not the vCPU's work. The
 * pCPU's scheduling decisions wait for the end (sched_event). At the end of a
 * task-like activity (another host task ran: a kernel thread, dom0) the pCPU
 * reschedules with host_preempted set, so the policy requeues the vCPU as a
 * preempted one: this is what makes each pCPU's order of vCPUs flip now and then. */

static void act_arm(struct sim *s, struct pcpu *p, int k, simtime_t after)
{
	const struct host_class *c = &s->sc->profile->cls[k];
	if (c->rate_hz <= 0)
		return;
	simtime_t gap = host_hist_draw_ns(&c->iat, p->rng);
	evq_schedule(&s->q, &p->act_ev[k], after + (gap > 0 ? gap : 1));
}

static void act_begin(struct sim *s, struct event *e)
{
	struct pcpu *p = e->owner;
	int k = e == &p->act_ev[HOST_TASK] ? HOST_TASK : HOST_IRQ;
	if (event_pending(&p->sched_ev) && p->sched_ev.when <= s->now) {
		/* a decision due at this instant (a vCPU just blocked) is taken first */
		evq_schedule(&s->q, e, s->now);
		return;
	}
	simtime_t len = host_hist_draw_ns(&s->sc->profile->cls[k].len, p->rng);
	if (len < 1)
		len = 1;
	p->host_events++;
	act_arm(s, p, k, s->now + len);
	host_stall(s, p, k, len);
}

/* The host holds p for len from now (class k); one already under way is extended. */
static void host_stall(struct sim *s, struct pcpu *p, int k, simtime_t len)
{
	if (p->host_busy) {
		/* arrives during another: it runs after it */
		p->host_until += len;
		p->host_task |= k == HOST_TASK;
		evq_schedule(&s->q, &p->act_end, p->host_until);
		return;
	}
	pcpu_account(s, p);
	if (p->curr && p->curr->state == VCPU_RUNNING) {
		guest_descheduled(s, p->curr);   /* charges its progress, stops its timer */
		exec_change(s, p->curr, -1);
	}
	p->host_busy = 1;
	if (p->curr)
		p->curr->g.executing = 0;
	p->host_task = k == HOST_TASK;
	p->host_since = s->now;
	p->host_until = s->now + len;
	if (s->trace)
		trace_host_activity(s->trace, s, p, 1);
	evq_schedule(&s->q, &p->act_end, p->host_until);
}

static void act_end(struct sim *s, struct event *e)
{
	struct pcpu *p = e->owner;
	pcpu_account(s, p);
	p->host_busy = 0;
	struct vcpu *v = p->curr;
	if (v && v->state == VCPU_RUNNING) {
		v->g.executing = 1;
		v->st.steal_ns += s->now - p->host_since;
		exec_change(s, v, +1);
		guest_resumed(s, v);
	}
	if (s->trace)
		trace_host_activity(s->trace, s, p, 0);
	if (p->host_task) {
		p->host_preempted = 1;
		sim_raise_schedule(s, p);
	}
}

/* The wake-latency counts noted since the last flush are added to the VMs'
 * histograms. On a large host each count is a cache miss (a random line of one
 * of thousands of 8 KB histograms); noted in a short log and added here, many of
 * those misses are in flight at once instead of each holding up the event that
 * made it. Sums are the same in any order, so the histograms are what direct
 * increments gave; sim_run flushes before it returns. */
static void wake_lat_flush(struct sim *s)
{
	for (unsigned i = 0; i < s->nlat_log; i++)
		s->wake_lat[s->lat_log[i]]++;
	s->nlat_log = 0;
}

static void record_wake_latency(struct sim *s, struct vm *vm, simtime_t lat)
{
	/* log2 buckets split into LAT_SUB linear sub-buckets: percentiles within 1/16 */
	uint64_t ns = lat > 0 ? (uint64_t)lat : 0;
	int b;
	if (ns < LAT_SUB) {
		b = (int)ns;
	} else {
		int lg = 63 - __builtin_clzll(ns);           /* >= 4 */
		int sub = (int)((ns >> (lg - 4)) & (LAT_SUB - 1));
		b = (lg - 3) * LAT_SUB + sub;
		if (b >= LAT_BUCKETS)
			b = LAT_BUCKETS - 1;
	}
	s->lat_log[s->nlat_log++] = (uint32_t)vm->id * LAT_BUCKETS + (uint32_t)b;
	if (s->nlat_log == SIM_LAT_LOG)
		wake_lat_flush(s);
	if (lat > vm->wake_lat_max)
		vm->wake_lat_max = lat;
}

static void switch_to(struct sim *s, struct pcpu *p, struct vcpu *next)
{
	struct vcpu *prev = p->curr;
	if (next == prev)
		return;
	iwr_update(s);
	pcpu_account(s, p);
	if (prev) {
		guest_descheduled(s, prev);
		prev->running_on = NULL;
		prev->g.executing = 0;
		if (prev->state == VCPU_RUNNING) {
			prev->state = VCPU_RUNNABLE;
			prev->ready_since = s->now;
			prev->st.preemptions++;
			s->n_waiting++;
		}
		exec_change(s, prev, -1);
		if (s->trace)
			trace_slice_end(s->trace, s, p, prev);
	} else {
		s->n_idle_pcpus--;
	}
	p->curr = next;
	p->context_switches++;
	s->context_switches++;
	if (next) {
		if (next->state != VCPU_RUNNABLE || next->running_on)
			sim_invariant_failed(s, "policy %s dispatched vCPU %s.%d on pCPU %d but it is %s",
					     s->ops->name, next->vm->name, next->idx, p->id,
					     next->running_on ? "running elsewhere" : "not runnable");
		s->n_waiting--;
		ready_end(s, next);
		next->state = VCPU_RUNNING;
		next->running_on = p;
		next->g.executing = !p->host_busy;
		exec_change(s, next, +1);
		/* a migration: it runs on another pCPU than last time (whatever the
		 * policy did with v->processor meanwhile) */
		if (next->last_pcpu >= 0 && next->last_pcpu != p->id) {
			next->st.migrations++;
			s->migrations++;
		}
		next->last_pcpu = p->id;
		next->processor = p->id;
		if (next->wake_time >= 0) {
			record_wake_latency(s, next->vm, s->now - next->wake_time);
			next->wake_time = -1;
		}
		if (s->trace)
			trace_slice_begin(s->trace, s, p, next);
#ifdef VCPUSIM_FAULT_DOUBLE_DISPATCH
		/* test-only build (tests/check_catches.sh): at the 100th context switch
		 * (the built-in scenario has 186) also put the vCPU on another pCPU, to
		 * show --check catches it */
		if (s->context_switches == 100 && s->host.npcpus > 1)
			s->host.pcpus[(p->id + 1) % s->host.npcpus].curr = next;
#endif
		guest_dispatched(s, next);
	} else {
		s->n_idle_pcpus++;
	}
	if (s->trace)
		trace_counters(s->trace, s);
}

/* ---- vCPU state changes requested by the guest */

void vcpu_block(struct sim *s, struct vcpu *v)
{
	if (v->state == VCPU_BLOCKED)
		return;
	iwr_update(s);
	if (v->state == VCPU_RUNNABLE) {
		s->n_waiting--;
		ready_end(s, v);
	}
	v->state = VCPU_BLOCKED;
	v->g.executing = 0;
	s->ops->sleep(s, v);
	if (s->trace) {
		trace_vcpu_state(s->trace, s, v);
		trace_counters(s->trace, s);
	}
}

void vcpu_wake(struct sim *s, struct vcpu *v)
{
	if (v->state != VCPU_BLOCKED || v->g.st == G_DONE)
		return;
	v->st.wakes++;
	if (v->running_on) {
		/* blocked and woken within one instant, before its pCPU rescheduled:
		 * it never left (Xen's vcpu_wake finds it current), so its thread
		 * goes on as on a dispatch (else it ran asleep for good: issue 13) */
		v->state = VCPU_RUNNING;
		v->g.executing = !v->running_on->host_busy;
		s->ops->wake(s, v);
		v->wake_new = 0;   /* read by the policy's wake, if at all (kvm: WF_FORK) */
		if (s->trace)
			trace_vcpu_state(s->trace, s, v);
#ifdef VCPUSIM_FAULT_DOUBLE_DISPATCH
		/* test-only build: VCPUSIM_FAULT=frozen brings the bug back, to show
		 * --check catches it (tests/check_catches.sh) */
		if (getenv("VCPUSIM_FAULT"))
			return;
#endif
		if (!v->running_on->host_busy)   /* else its host activity's end resumes it */
			guest_dispatched(s, v);
		return;
	}
	iwr_update(s);
	v->state = VCPU_RUNNABLE;
	v->wake_time = s->now;
	v->ready_since = s->now;
	s->n_waiting++;
	s->ops->wake(s, v);
	v->wake_new = 0;
	if (s->trace) {
		trace_vcpu_state(s->trace, s, v);
		trace_counters(s->trace, s);
	}
}

static void ipi_event(struct sim *s, struct event *e)
{
	vcpu_wake(s, e->owner);
}

void vcpu_send_wake_ipi(struct sim *s, struct vcpu *v, simtime_t latency)
{
	s->ipis++;
	if (event_pending(&v->ipi_ev) && v->ipi_ev.when <= s->now + latency)
		return;
	evq_schedule(&s->q, &v->ipi_ev, s->now + latency);
}

void sim_thread_done(struct sim *s, struct vcpu *v)
{
	struct vm *vm = v->vm;
	if (++vm->threads_done == vm->nvcpus && vm->finite) {
		vm->done_time = s->now;
		s->finished_vms++;
		s->attention = 1;   /* the main loop looks whether all are done */
	}
}

/* ---- invariants (--check; always on in the test suite) */

void sim_invariant_failed(struct sim *s, const char *fmt, ...)
{
	char msg[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	static const char *const kinds[EV_KINDS] = { "pCPU schedule", "guest step", "wake-up IPI",
						     "policy timer", "host activity" };
	fprintf(stderr, "vcpusim: invariant violated at t=%lld ns, after event #%llu (%s): %s\n",
		(long long)s->now, (unsigned long long)s->events,
		s->last_kind < EV_KINDS ? kinds[s->last_kind] : "?", msg);
	sim_invariant_broken = 1;
	s->attention = 1;   /* the main loop stops after this event */
}

static void check_invariants(struct sim *s)
{
	int idle = 0, waiting = 0;
	for (int i = 0; i < s->host.npcpus; i++) {
		struct pcpu *p = &s->host.pcpus[i];
		int resched_now = sim_resched_due(s, p);
		if (!p->curr) {
			idle++;
		} else if (p->curr->running_on != p ||
			   (p->curr->state != VCPU_RUNNING &&
			    !(p->curr->state == VCPU_BLOCKED && resched_now))) {
			sim_invariant_failed(s, "pCPU %d runs vCPU %s.%d which does not run there",
					     p->id, p->curr->vm->name, p->curr->idx);
		}
		simtime_t accounted = p->busy_ns + p->idle_ns + p->steal_ns + (s->now - p->since);
		if (accounted != s->now)
			sim_invariant_failed(s, "pCPU %d busy+idle+steal = %lld ns != time %lld ns", p->id,
					     (long long)accounted, (long long)s->now);
		if (p->host_busy != event_pending(&p->act_end) ||
		    (p->host_busy && (p->host_until != p->act_end.when || p->host_since > s->now)))
			sim_invariant_failed(s, "pCPU %d host activity state is inconsistent", p->id);
	}
	for (int i = 0; i < s->nvcpus; i++) {
		struct vcpu *v = s->vcpus[i];
		if (v->g.executing != vcpu_executing(v))
			sim_invariant_failed(s, "vCPU %s.%d: executing is %d, its state and pCPU say %d",
					     v->vm->name, v->idx, v->g.executing, vcpu_executing(v));
		if (v->state == VCPU_RUNNING) {
			if (!v->running_on || v->running_on->curr != v)
				sim_invariant_failed(s, "vCPU %s.%d is running but on no pCPU",
						     v->vm->name, v->idx);
		} else {
			/* a blocked vCPU keeps its pCPU until that pCPU's pending reschedule */
			if (v->running_on && !(v->state == VCPU_BLOCKED &&
					       sim_resched_due(s, v->running_on)))
				sim_invariant_failed(s, "vCPU %s.%d is not running but holds pCPU %d",
						     v->vm->name, v->idx, v->running_on->id);
			waiting += v->state == VCPU_RUNNABLE;
		}
	}
	/* a vCPU on two pCPUs would make some pCPU's curr point at a vCPU whose
	 * running_on is another pCPU: caught above */
	if (idle != s->n_idle_pcpus || waiting != s->n_waiting)
		sim_invariant_failed(s, "counters: %d idle pCPUs (counted %d), %d waiting vCPUs (counted %d)",
				     idle, s->n_idle_pcpus, waiting, s->n_waiting);
	for (int i = 0; i < s->nvms; i++) {
		const char *bad = guest_check_vm(&s->vms[i]);
		if (bad)
			sim_invariant_failed(s, "VM %s: %s", s->vms[i].name, bad);
	}
	if (s->ops->check)
		s->ops->check(s);
}

/* ---- building */

static void build_host(struct sim *s, const struct scenario *sc)
{
	struct host *h = &s->host;
	h->npcpus = sc->npcpus;
	h->sockets = sc->sockets;
	h->cores = sc->cores;
	h->threads = sc->threads;
	h->ghz = sc->ghz;
	h->pcpus = xcalloc_aligned(_Alignof(struct pcpu), (size_t)h->npcpus, sizeof *h->pcpus);
	h->all = bitmap_alloc(h->npcpus);
	bitmap_fill(h->all, h->npcpus);
	int w = bitmap_words(h->npcpus);
	/* one sibling map per core and one core map per socket */
	int ncores = h->sockets * h->cores;
	h->maps = xcalloc((size_t)(ncores + h->sockets) * (size_t)w, sizeof(bitword_t));
	for (int i = 0; i < h->npcpus; i++) {
		struct pcpu *p = &h->pcpus[i];
		/* numbering: pCPU = (socket * cores + core) * threads + thread, so SMT
		 * siblings are adjacent (docs/scenario.md, "host") */
		p->id = i;
		p->thread = i % h->threads;
		p->core = (i / h->threads) % h->cores;
		p->socket = i / (h->threads * h->cores);
		bitword_t *sib = h->maps + (size_t)(p->socket * h->cores + p->core) * (size_t)w;
		bitword_t *cm = h->maps + (size_t)(ncores + p->socket) * (size_t)w;
		bitmap_set(sib, i);
		bitmap_set(cm, i);
		p->sibling_map = sib;
		p->core_map = cm;
		p->since = 0;
		event_init(&p->sched_ev, sched_event, p, EV_SCHED);
		event_init(&p->act_ev[HOST_IRQ], act_begin, p, EV_HOST);
		event_init(&p->act_ev[HOST_TASK], act_begin, p, EV_HOST);
		event_init(&p->act_end, act_end, p, EV_HOST);
		rng_stream_init(p->rng, p->rng_state, sc->seed, RNG_PCPU, (uint64_t)i);
	}
}

/* Initial placement, after Xen 4.0's domctl XEN_DOMCTL_max_vcpus: vCPU 0 on the
 * allowed pCPU with the fewest vCPUs placed so far (lowest id on ties), each
 * further vCPU on the next allowed pCPU after its predecessor's (cycle_cpu). */
static void place_vcpus(struct sim *s, int *load)
{
	struct host *h = &s->host;
	for (int m = 0; m < s->nvms; m++) {
		struct vm *vm = &s->vms[m];
		for (int i = 0; i < vm->nvcpus; i++) {
			struct vcpu *v = &vm->vcpus[i];
			int cpu = -1;
			if (i == 0) {
				for (int c = bitmap_next(v->affinity, h->npcpus, 0); c >= 0;
				     c = bitmap_next(v->affinity, h->npcpus, c + 1))
					if (cpu < 0 || load[c] < load[cpu])
						cpu = c;
			} else {
				cpu = bitmap_cycle(v->affinity, h->npcpus, vm->vcpus[i - 1].processor);
			}
			v->processor = cpu;
			load[cpu]++;
		}
	}
}

struct sim *sim_create(const struct scenario *sc)
{
	struct sim *s = xcalloc(1, sizeof *s);
	s->sc = sc;
	s->ops = sc->policy;
	s->policy_params = sc->policy_params;
	s->guest = sc->guest;
	s->check = sc->check;
	s->irq_excluded = !sc->activity || sc->profile->irq_time_accounting;
	evq_init(&s->q);
	build_host(s, sc);

	s->nvms = sc->nvms;
	s->vms = xcalloc_aligned(_Alignof(struct vm), (size_t)s->nvms, sizeof *s->vms);
	for (int m = 0; m < s->nvms; m++)
		s->nvcpus += sc->vms[m].vcpus;
	s->vcpus = xcalloc((size_t)s->nvcpus, sizeof *s->vcpus);
	s->wake_lat = xcalloc((size_t)s->nvms * LAT_BUCKETS, sizeof *s->wake_lat);
	int id = 0;
	for (int m = 0; m < s->nvms; m++) {
		const struct vm_config *c = &sc->vms[m];
		struct vm *vm = &s->vms[m];
		vm->id = m;
		vm->name = c->name;
		vm->nvcpus = c->vcpus;
		vm->weight = c->weight;
		vm->cap = c->cap;
		vm->concurrent = c->concurrent;
		vm->native = c->native;
		vm->start_ns = c->start_ns;
		vm->wk = c->wk;
		vm->wp = c->wp;
		vm->finite = c->wk->finite(c->wp);
		vm->done_time = -1;
		rng_stream_init(vm->rng, vm->rng_state, sc->seed, RNG_VM, (uint64_t)m);
		vm->st.wake_lat = s->wake_lat + (size_t)m * LAT_BUCKETS;
		vm->vcpus = xcalloc_aligned(_Alignof(struct vcpu), (size_t)vm->nvcpus, sizeof *vm->vcpus);
		for (int i = 0; i < vm->nvcpus; i++) {
			struct vcpu *v = &vm->vcpus[i];
			v->id = id;
			v->idx = i;
			v->vm = vm;
			v->state = VCPU_BLOCKED;
			v->wake_time = -1;
			v->last_pcpu = -1;
			rng_stream_init(v->rng, v->rng_state, sc->seed, RNG_VCPU, (uint64_t)id);
			event_init(&v->ipi_ev, ipi_event, v, EV_IPI);
			if (c->affinity) {
				bitword_t *aff = bitmap_alloc(s->host.npcpus);
				for (int p = 0; p < s->host.npcpus; p++)
					if (c->affinity[i * s->host.npcpus + p])
						bitmap_set(aff, p);
				v->affinity = aff;
			} else {
				/* every pCPU: the host's map, shared, so that on a large
				 * host the wake-ups' tickling and placement read one hot
				 * bitmap instead of one per vCPU (at 1024 pCPUs two cache
				 * lines each, missed at every wake-up; docs/performance.md) */
				v->affinity = s->host.all;
			}
			s->vcpus[id++] = v;
		}
		if (vm->finite)
			s->finite_vms++;
	}
	int *load = xcalloc((size_t)s->host.npcpus, sizeof *load);
	place_vcpus(s, load);
	free(load);
	for (int m = 0; m < s->nvms; m++)
		guest_init_vm(s, &s->vms[m]);
	s->n_idle_pcpus = s->host.npcpus;
	return s;
}

void sim_destroy(struct sim *s)
{
	if (!s)
		return;
	evq_free(&s->q);   /* first: it resets the slots of events owned by what follows */
	if (s->ops && s->ops->destroy)
		s->ops->destroy(s);
	for (int m = 0; m < s->nvms; m++) {
		struct vm *vm = &s->vms[m];
		guest_free_vm(vm);
		for (int i = 0; i < vm->nvcpus; i++)
			if (vm->vcpus[i].affinity != s->host.all)
				free((void *)vm->vcpus[i].affinity);
		free(vm->vcpus);
	}
	free(s->vms);
	free(s->vcpus);
	free(s->wake_lat);
	free(s->host.pcpus);
	free(s->host.all);
	free(s->host.maps);
	free(s);
}

/* ---- the loop */

static double wall_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void show_progress(struct sim *s, double started)
{
	double el = wall_now() - started;
	if (el < 2.0)
		return;
	double frac = s->sc->max_ns > 0 ? (double)s->now / (double)s->sc->max_ns : 0;
	fprintf(stderr, "\rvcpusim: t=%.0f ms (%.0f%% of stop.max_ms), %d/%d VMs done, %.1fM events, %.0f s",
		simtime_ms(s->now), frac * 100, s->finished_vms, s->finite_vms,
		(double)s->events / 1e6, el);
	s->progress = 2;
}

int sim_run(struct sim *s)
{
	double started = wall_now();
	s->ops->init(s);
	/* Every vCPU comes online at a random instant in [0, start_spread): in a real
	 * host vCPUs are brought up one by one, so each pCPU's slices run at their own
	 * phase. With a spread of 0 all wake at time 0, in VM then vCPU order, and
	 * pCPUs switch in lockstep (docs/scenario.md, start_spread_ms). A VM's
	 * start_ms delays all of its vCPUs; a native process's threads come online
	 * together, at its first thread's instant, from which its completion counts. */
	for (int i = 0; i < s->nvcpus; i++) {
		struct vcpu *v = s->vcpus[i];
		simtime_t at = v->vm->start_ns;
		if (s->sc->start_spread_ns > 0)
			at += (simtime_t)(gsl_rng_uniform(v->rng) * (double)s->sc->start_spread_ns);
		if (v->vm->native && v->idx > 0) {
			/* one process: its threads start together; the others are
			 * threads it creates (clone: WF_FORK), queued without preempting,
			 * so that a thread created before it first runs does not exist
			 * earlier (it finds its creation signalled and goes on) */
			at = v->vm->vcpus[0].ipi_ev.when;
			v->wake_new = 1;
		} else if (v->vm->native) {
			v->vm->start_ns = at;   /* and its run time counts from its start */
		}
		evq_schedule(&s->q, &v->ipi_ev, at);
	}
	/* host activity: each class's first arrival at a uniform point of a drawn
	 * gap, so that the processes start in their stationary phase */
	for (int i = 0; s->sc->activity && i < s->host.npcpus; i++) {
		struct pcpu *p = &s->host.pcpus[i];
		for (int k = 0; k < HOST_CLASSES; k++) {
			const struct host_class *c = &s->sc->profile->cls[k];
			if (c->rate_hz <= 0)
				continue;
			double gap = host_hist_draw(&c->iat, p->rng);
			evq_schedule(&s->q, &p->act_ev[k], (simtime_t)(gsl_rng_uniform(p->rng) * gap) + 1);
		}
	}
	simtime_t max = s->sc->max_ns;
	int all_done_possible = s->finite_vms > 0, stalled = 0;
	struct stall stall;   /* no progress: sim/stall.h */
	stall_init(&stall, s);
	/* The loop's exit conditions (an invariant broken, every finite VM done)
	 * change only where s->attention is set (sim_invariant_failed,
	 * sim_thread_done), so that is all an event's end looks at; set now, so that
	 * they are looked at before the first event too. */
	int per_event = s->check || s->progress;
	s->attention = 1;
	for (;;) {
		if (__builtin_expect(s->attention, 0)) {
			if (sim_invariant_broken ||
			    (all_done_possible && s->finished_vms == s->finite_vms))
				break;
			s->attention = 0;
		}
		/* the next event, unless it is after stop.max_ms (or none is left) */
		struct event *e = evq_pop_until(&s->q, max);
		if (!e) {
			s->now = max;
			s->hit_max = 1;
			break;
		}
		simtime_t t = e->when;
		if (t < s->now)
			sim_invariant_failed(s, "time went backwards from %lld to %lld ns",
					     (long long)s->now, (long long)t);
		s->now = t;
		s->events++;
		s->events_by_kind[e->kind]++;
		s->last_kind = e->kind;
		if (stall_note(&stall, s, t, e)) {
			stalled = 1;
			break;
		}
		e->fire(s, e);
		if (__builtin_expect(per_event, 0)) {
			if (s->check)
				check_invariants(s);
			if (s->progress && (s->events & 0x3ffff) == 0)
				show_progress(s, started);
		}
	}
	if (s->progress == 2)
		fputc('\n', stderr);
	wake_lat_flush(s);
	s->end = s->now;
	/* close the books at the end instant */
	iwr_update(s);
	for (int i = 0; i < s->host.npcpus; i++) {
		struct pcpu *p = &s->host.pcpus[i];
		pcpu_account(s, p);
		if (p->curr) {
			if (p->host_busy && p->curr->state == VCPU_RUNNING)
				p->curr->st.steal_ns += s->now - p->host_since;
			guest_account(s, p->curr);
			if (s->trace)
				trace_slice_end(s->trace, s, p, p->curr);
		}
	}
	for (int i = 0; i < s->nvcpus; i++)
		if (s->vcpus[i]->state == VCPU_RUNNABLE)
			ready_end(s, s->vcpus[i]);
	for (int m = 0; m < s->nvms; m++)
		if (s->vms[m].n_exec == s->vms[m].nvcpus)
			s->vms[m].st.together_ns += s->now - s->vms[m].together_since;
	stall_free(&stall);
	return sim_invariant_broken || stalled ? 1 : 0;
}
