/* model.h: the simulated machine and its guests: pCPUs, VMs, vCPUs, guest threads,
 * guest spinlocks and barriers (docs/model.md).
 *
 * Plain data. The hypervisor's decisions live in the policy (models/sched.h); the
 * mechanics of a context switch and of vCPU states live in sim/sim.c; what a guest
 * thread does lives in models/guest.c. */
#ifndef VCPUSIM_MODEL_H
#define VCPUSIM_MODEL_H
#include <stddef.h>
#include <stdint.h>
#include <gsl/gsl_rng.h>
#include "sim/simtime.h"
#include "sim/eventq.h"
#include "sim/bitmap.h"
#include "sim/rng.h"
#include "workloads/workload.h"

#define WAIT_HIST_BUCKETS 64   /* log2(cycles) of a spinlock wait */
#define LAT_SUB 16             /* wake-latency histogram: 16 linear sub-buckets per power of 2 */
#define LAT_BUCKETS (64 * LAT_SUB)

enum vcpu_state { VCPU_RUNNING, VCPU_RUNNABLE, VCPU_BLOCKED };

/* What the guest thread on a vCPU is doing (models/guest.c). */
enum guest_state {
	G_START,          /* first operation not fetched yet (fetched at first dispatch) */
	G_COMPUTE,        /* timed: compute op */
	G_CRITICAL,       /* timed: holding a lock, in its critical section */
	G_SYS,            /* timed: kernel work (futex bookkeeping, wake-ups, hypercalls) */
	G_LOCK_SPIN,      /* spinning for a lock (timed when the spin has a budget) */
	G_BARRIER_SPIN,   /* timed: spinning at a barrier for at most spin_ns */
	G_LOCK_PARKED,    /* paravirt ticket: vCPU blocked until the releaser kicks it */
	G_FUTEX_SLEEP,    /* vCPU blocked on the barrier futex until an IPI wakes it */
	G_SLEEP,          /* vCPU blocked for an OP_SLEEP */
	G_P2P_SPIN,       /* busy-waiting on a hand-off flag (OP_WAIT), untimed */
	G_TLB_SPIN,       /* TLB shootdown initiator: spinning until every target acks, untimed */
	G_DONE,           /* program over: the vCPU halts for good */
};

/* What to do once a lock is acquired or a timed step ends. */
enum guest_next {
	GN_OP_DONE,        /* the current op is complete: fetch the next */
	GN_CRITICAL,       /* lock acquired: run the op's critical section */
	GN_RELEASE,        /* critical section over: release, then the next op */
	GN_FUTEX_CHECK,    /* bucket lock acquired by a sleeper: check and sleep */
	GN_FUTEX_WAKE,     /* bucket lock acquired by the last arriver: wake sleepers */
	GN_FUTEX_CHECKED,  /* sleeper's check done: release bucket lock, sleep or go */
	GN_FUTEX_WOKEN,    /* waker's critical section done: release lock, send IPIs */
	/* guest.ttwu_rq_lock (models/guest.c): try_to_wake_up under the wakee's rq lock,
	 * and the sleeper's schedule() under its own */
	GN_TTWU_NEXT, GN_TTWU_LOCKED, GN_TTWU_DONE, GN_SCHED_LOCKED, GN_SCHED_DONE,
};

struct glock;
struct vm;
struct pcpu;

/* Field order (here, in vcpu_stats and in struct vcpu): on a large host the
 * vCPUs do not stay in the caches, and each cache line an event touches is a
 * miss. A guest step's end (a compute, a lock, a critical section) reads and
 * writes lines 0-2 and 4 of its vCPU: the event and state (line 0), its VM and
 * pCPU with the thread's state, step, lock and the flags a dispatch reads (line
 * 1), the lock's ticket, wait start and the operation (line 2), then its random
 * stream and work time (line 4). A wake-up and a dispatch read and write line
 * 6 (the counts, times and pCPUs of both), a preemption line 5 too; a preempted
 * step resumed reads no more than lines 0, 1 and 4. The offsets are checked below (docs/performance.md). */
struct guest_thread {
	/* line 1, after vm and running_on */
	enum guest_state st;
	enum guest_next after;     /* continuation once the lock is held / timer ends */
	simtime_t remaining;       /* CPU ns left of the current timed step */
	simtime_t seg_start;       /* start of the current accounting segment */
	struct glock *lock;        /* lock requested or held */
	simtime_t pending_sys;     /* kernel CPU work to do before the continuation */
	/* bytes, to fit on line 1 */
	unsigned char executing;   /* vcpu_executing(), kept by sim/sim.c where its state,
	                              pCPU or the pCPU's host activity changes (the guest
	                              asks at most steps; --check compares) */
	unsigned char pmt_compete; /* pmtlock: timed out, competes for the lock like tas */
	unsigned char tlb_handling;  /* running the flush IPI's handler (flush_tlb_func)
	                                (read at every dispatch and preemption) */
	unsigned char tlb_irq;     /* a flush IPI arrived while not executing: at entry */
	/* line 2 */
	uint64_t ticket;           /* ticket-lock ticket */
	struct vcpu *wait_prev;    /* in lock->waiters */
	simtime_t wait_start;      /* when the lock (or hand-off flag) was requested */
	struct op op;              /* the current operation (its last 8 bytes: line 3) */
	/* line 3 and on: rarer */
	uint32_t barrier_gen;      /* generation of the barrier being waited on */
	struct vcpu *wait_next;    /* in lock->waiters */
	simtime_t barrier_arrival; /* when it arrived at that barrier */
	/* pvqspinlock (models/guest.c): role in the lock (an unfair spinner outside the
	 * MCS queue, a queue node, the queue head), the head has halted once (is
	 * hashed: it never halts again for this acquisition), the unlocker kicked it */
	int pvq_role, pvq_hashed, pvq_kicked;
	int tlb_wait;              /* TLB shootdown initiator: acknowledgements awaited */
	simtime_t ipi_sent_at;     /* when a wake-up (reschedule) IPI was sent to it */
	/* guest.ttwu_rq_lock: the bucket lock held while taking a wakee's rq lock, the
	 * next sleeper to wake, woken before it reached schedule()'s sleep */
	struct glock *outer_lock;
	int ttwu_i, ttwu_early;
	simtime_t tlb_flush_left;  /* of the handler, while descheduled */
};

struct vcpu_stats {
	simtime_t work_ns;       /* CPU time by what the guest did: work, spin, kernel */
	/* line 5: what a preemption and a spin add to */
	simtime_t p2p_spin_ns;
	uint64_t preemptions;    /* descheduled while still runnable */
	uint64_t migrations;
	simtime_t sys_ns;
	simtime_t steal_ns;      /* on its pCPU but stalled by host activity (models/host.h) */
	simtime_t spin_ns, lock_spin_ns, barrier_spin_ns;
	/* line 6, with ready_since, wake_time and the pCPUs: what a wake-up and a
	 * dispatch read and add to */
	uint64_t wakes;
	simtime_t ready_ns;      /* runnable, waiting for a pCPU */
	simtime_t tlb_spin_ns;
};

struct vcpu {
	struct event ev;         /* guest progress timer (timed steps, sleep wake-up) */
	enum vcpu_state state;
	int idx;                 /* within its VM */
	struct vm *vm;
	struct pcpu *running_on; /* non-NULL iff RUNNING */
	struct guest_thread g;
	RNG_EMBEDDED(rng);       /* its stream, in its own lines (sim/rng.h) */
	struct vcpu_stats st;
	simtime_t ready_since;   /* when it last became runnable-not-running */
	simtime_t wake_time;     /* when it last became runnable from blocked; -1 if consumed */
	int processor;           /* Xen's v->processor: last/assigned pCPU */
	int last_pcpu;           /* the pCPU it last ran on, -1 before its first run
	                            (migrations are counted from it, for every policy) */
	int id;                  /* global, 0..nvcpus-1 */
	int wake_new;            /* its next wake-up starts a newly created native thread
	                            (wake_up_new_task, WF_FORK); cleared after the wake */
	const bitword_t *affinity;  /* host.all when the VM gives none (shared: never written) */
	struct event ipi_ev;     /* a wake-up IPI (event channel) in flight to this vCPU */
	struct event tlb_ev;     /* a TLB flush IPI in flight to this vCPU (models/guest.c) */
} __attribute__((aligned(64)));   /* whole cache lines, the same lines in every vCPU */

struct glock {
	int id;
	int kind;                /* enum lock_kind in models/guest.h */
	struct vcpu *holder;
	uint64_t next_ticket, owner_ticket;  /* ticket kinds */
	struct vcpu *waiters, *waiters_tail; /* FIFO by request */
	int nwaiters;
	int pending;             /* pvqspinlock: the queue head spins actively (no stealing) */
};

struct gbarrier {
	int total, arrived;
	uint32_t gen;
	struct vcpu **sleepers;  /* vCPUs blocked on the futex */
	int nsleepers;
	struct vcpu **to_wake;   /* sleepers taken by the current waker */
	int nto_wake;
};

/* Guest kernel waits by cause (models/guest.c): spinlock acquisitions, TLB shootdown
 * initiators waiting for acknowledgements, threads woken by a reschedule IPI (send
 * to run), wakers spinning on a wakee's rq lock (guest.ttwu_rq_lock). */
enum kwait_cause { KW_SPINLOCK, KW_TLB, KW_RESCHED, KW_RQLOCK, KW_CAUSES };
struct kwait {
	uint64_t n, long_n;
	simtime_t total, max;
};

/* Field order, as in struct vcpu (above): a lock taken at once adds to kwait[0]
 * (line 0 of the statistics) and to the counters with wait_hist[0] (line 2), a
 * compute's fetch to requests (line 2). (The wake-latency maximum, which a
 * dispatch after a wake-up updates, is on struct vm's line 0.) */
struct vm_stats {
	struct kwait kwait[KW_CAUSES];
	uint64_t acquisitions, requests, lock_calls;   /* lock_calls: the real acquisitions
							  the OP_LOCKs stand for */
	simtime_t together_ns;      /* all its vCPUs executing at once (co-run time) */
	uint64_t barriers, max_wait_cycles, long_waits;
	uint64_t wait_hist[WAIT_HIST_BUCKETS];
	uint64_t futex_sleeps, ipis_sent;
	uint64_t pv_halts, pv_kicks; /* paravirt locks: waiters halted, unlockers' kicks */
	uint64_t tlb_ipis, tlb_deferred; /* flush IPIs sent; flushes deferred (PV TLB flush) */
	simtime_t tlb_flush_cpu_ns;  /* targets' flush handlers (guest.tlb_flush_ns each) */
	simtime_t rq_spin_ns;        /* CPU spent spinning for rq locks (guest.ttwu_rq_lock) */
	uint64_t p2p_waits, p2p_spun, p2p_long_waits;  /* OP_WAITs; those that spun */
	simtime_t p2p_wait_max;
	/* LAT_BUCKETS counts; the storage is struct sim's wake_lat (sim/sim.h): 8 KB
	 * kept out of struct vm, so that a large host's VMs are 1 KB apart instead
	 * of 9 and their fields that every context switch touches share fewer
	 * cache lines and pages with other VMs' histograms (docs/performance.md) */
	uint64_t *wake_lat;
	uint64_t mode_switches;     /* coscheduling policies */
	simtime_t cosched_ns;
};

struct vm {
	/* line 0: what every context switch (sim.c exec_change), every operation's
	 * fetch (models/guest.c fetch_op) and every lock request reads first */
	int id;
	int nvcpus;
	int n_exec;               /* vCPUs executing now (running, not stalled by the host) */
	int rq_locks;             /* guest.ttwu_rq_lock: one rq lock per vCPU */
	simtime_t together_since;
	const struct workload_kind *wk;
	const struct workload_params *wp;
	void *wstate;
	struct glock *locks;      /* workload locks, the vCPUs' rq locks if rq_locks,
	                             then the futex bucket lock */
	simtime_t wake_lat_max;   /* (its statistics' line is no other switch's) */
	/* line 1: barriers */
	struct vcpu *vcpus;
	struct gbarrier barrier;
	int nlocks;
	int threads_done;
	/* then the rest */
	char *name;
	int weight, cap;          /* Xen: weight per domain, cap in % of one pCPU */
	int concurrent;           /* hybrid's static flag */
	int native;               /* a native process: its threads' first starts are
	                             thread creations (WF_FORK; docs/scenario.md) */
	simtime_t start_ns;       /* its vCPUs come online from this time (a native
	                             process's: when it starts); completion counts from it */
	int finite;
	int nflags;
	simtime_t done_time;      /* completion, -1 until finished */
	int64_t *flags;           /* hand-off counters (OP_SIGNAL / OP_WAIT) */
	unsigned char *tlb_req;   /* [target * nvcpus + initiator]: flush requested */
	RNG_EMBEDDED(rng);
	struct vm_stats st __attribute__((aligned(64)));
} __attribute__((aligned(64)));   /* allocated aligned (sim.c): the same lines in every VM */

struct pcpu {
	/* by cache line (64-byte aligned, allocated so: sim.c), in the order a host
	 * activity, its end and a scheduling decision touch them: line 0 what each of
	 * them reads first (the flags are bytes, so that switch_stall, read by every
	 * decision, fits), line 1 the time accounts (pcpu_account), then each event on
	 * a line of its own with a field its handler uses; the topology last */
	struct vcpu *curr;             /* NULL = idle */
	RNG_EMBEDDED(rng);             /* activity and timer lateness draws */
	int id;
	/* host activity (models/host.h, sim/sim.c): while host_busy the pCPU does the
	 * host's own work; its vCPU (if any) stays current but is stalled */
	uint8_t host_busy;
	uint8_t host_task;             /* the activity is another host task: the host
	                                  scheduler picks again when it ends */
	uint8_t host_preempted;        /* set while do_schedule runs after a host task */
	uint8_t resched_deferred;      /* a decision waits for the activity's end */
	simtime_t switch_stall;        /* set by the policy's do_schedule when it picks
	                                  a vCPU other than the current one: the host's
	                                  own work before that vCPU runs guest code
	                                  (KVM's world switch); the engine runs it as
	                                  interrupt-like activity after the switch */
	/* line 1 */
	simtime_t since;               /* start of the current busy/idle period */
	simtime_t busy_ns, idle_ns;
	simtime_t steal_ns;            /* host activity time on this pCPU */
	simtime_t excl_ns;             /* the part a task's clock excludes (sim_task_clock) */
	simtime_t host_since;
	simtime_t slice_end;           /* when the current slice was set to end */
	uint64_t context_switches;
	/* line 2 */
	simtime_t host_until;
	struct event sched_ev;         /* next scheduling decision (softirq or slice end) */
	/* line 3 (every activity schedules its end) */
	uint64_t host_events;
	struct event act_end;
	/* lines 4 and 5 (after 8 bytes of the topology: each event on one line) */
	int socket, core;              /* topology coordinates (and thread) */
	struct event act_ev[2];        /* next arrival of each activity class */
	int thread;
	const bitword_t *sibling_map;  /* SMT siblings (Xen cpu_sibling_map) */
	const bitword_t *core_map;     /* same socket (Xen cpu_core_map) */
} __attribute__((aligned(64)));

struct host {
	int npcpus;
	int sockets, cores, threads;   /* per host, per socket, per core */
	double ghz;
	struct pcpu *pcpus;
	bitword_t *all;                /* all pCPUs (also the affinity of unpinned vCPUs) */
	bitword_t *maps;               /* storage for sibling and core maps */
};

/* The layouts above, line by line (a change that moves these is a performance
 * change: measure it, docs/performance.md) */
_Static_assert(offsetof(struct vcpu, g.tlb_irq) / 64 == 1 &&
	       offsetof(struct vcpu, g.executing) / 64 == 1 &&
	       offsetof(struct vcpu, g.op.batch) / 64 == 2 &&
	       offsetof(struct vcpu, rng) / 64 == 4 && offsetof(struct vcpu, st.work_ns) / 64 == 4 &&
	       offsetof(struct vcpu, st.barrier_spin_ns) / 64 == 5 &&
	       offsetof(struct vcpu, st.wakes) / 64 == 6 &&
	       offsetof(struct vcpu, st.ready_ns) / 64 == 6 &&
	       offsetof(struct vcpu, affinity) / 64 == 6, "struct vcpu's hot lines");
_Static_assert(offsetof(struct vm, wake_lat_max) / 64 == 0 &&
	       offsetof(struct vm, barrier.nto_wake) / 64 == 1 &&
	       offsetof(struct vm, st.kwait[0].n) % 64 == 0 &&
	       (offsetof(struct vm, st.wait_hist[0]) - offsetof(struct vm, st.acquisitions)) < 64 &&
	       offsetof(struct vm, st.acquisitions) / 64 == offsetof(struct vm, st.wait_hist[0]) / 64,
	       "struct vm's hot lines");
_Static_assert(offsetof(struct pcpu, switch_stall) / 64 == 0 &&
	       offsetof(struct pcpu, since) / 64 == 1 &&
	       offsetof(struct pcpu, context_switches) / 64 == 1 &&
	       offsetof(struct pcpu, host_until) / 64 == 2 &&
	       (offsetof(struct pcpu, sched_ev) + sizeof(struct event) - 1) / 64 == 2 &&
	       offsetof(struct pcpu, host_events) / 64 == 3 &&
	       (offsetof(struct pcpu, act_end) + sizeof(struct event) - 1) / 64 == 3 &&
	       offsetof(struct pcpu, act_ev[0]) / 64 == 4 &&
	       (offsetof(struct pcpu, act_ev[0]) + sizeof(struct event) - 1) / 64 == 4 &&
	       offsetof(struct pcpu, act_ev[1]) / 64 == 5 &&
	       (offsetof(struct pcpu, act_ev[1]) + sizeof(struct event) - 1) / 64 == 5,
	       "struct pcpu's lines");

/* The vCPU is executing guest code now: running on a pCPU that host activity does
 * not hold. Guest progress (models/guest.c) happens only then. */
static inline int vcpu_executing(const struct vcpu *v)
{
	return v->state == VCPU_RUNNING && !v->running_on->host_busy;
}

static inline int64_t ns_to_cycles(const struct host *h, simtime_t ns)
{
	return (int64_t)((double)ns * h->ghz + 0.5);
}

#endif
