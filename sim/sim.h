/* sim.h: the simulator core: clock, event loop, vCPU state changes and context
 * switches. Policies (models/sched.h) and the guest model (models/guest.h) act on
 * the machine only through these calls. */
#ifndef VCPUSIM_SIM_H
#define VCPUSIM_SIM_H
#include <stdio.h>
#include "sim/eventq.h"
#include "sim/scenario.h"
#include "models/model.h"
#include "models/sched.h"

#define SIM_LAT_LOG 256          /* wake-latency counts noted before they are added */

enum event_kind { EV_SCHED, EV_GUEST, EV_IPI, EV_POLICY, EV_HOST, EV_KINDS };
enum observe_what { OBS_LOCK_REQUEST, OBS_LOCK_ACQUIRE, OBS_LOCK_RELEASE };

struct trace;

struct sim {
	simtime_t now;
	struct eventq q;
	const struct scenario *sc;
	struct host host;
	int nvms;
	struct vm *vms;
	int nvcpus;
	struct vcpu **vcpus;         /* by global id */
	uint64_t *wake_lat;          /* the VMs' wake-latency histograms (vm_stats.wake_lat) */
	uint32_t lat_log[SIM_LAT_LOG];  /* counts not yet in them: VM id x LAT_BUCKETS + bucket */
	unsigned nlat_log;           /* (sim.c wake_lat_flush; flushed when sim_run returns) */
	const struct sched_ops *ops;
	const void *policy_params;
	void *policy;                /* policy-private state */
	int irq_excluded;            /* a task's clock excludes interrupt-like host time
				      * (sim_task_clock) */
	struct guest_config guest;

	uint64_t events;
	uint64_t events_by_kind[EV_KINDS];
	unsigned last_kind;          /* kind of the event being processed */
	int finite_vms, finished_vms;
	int attention;               /* the main loop must look at its exit conditions
	                                (set where they change: sim.c sim_run) */
	simtime_t end;               /* when the run ended */
	int hit_max;                 /* stopped at stop.max_ms */

	/* host statistics */
	uint64_t context_switches, migrations, ipis;
	int n_idle_pcpus, n_waiting;  /* idle pCPUs; runnable vCPUs not running */
	simtime_t iwr_since, idle_with_runnable_ns;

	int check;                   /* invariants after every event */
	/* Optional observer of guest events, for tests and tools (NULL = none). */
	void (*observe)(struct sim *s, enum observe_what what, struct vcpu *v, const void *obj);
	void *observer_data;
	struct trace *trace;
	int progress;                /* print a progress line on stderr */
};

/* Builds the machine and guests from a validated scenario. */
struct sim *sim_create(const struct scenario *sc);
void sim_destroy(struct sim *s);
/* Runs to completion or stop.max_ms. Returns 0, or 1 if an invariant failed. */
int sim_run(struct sim *s);

/* --- for policies --- */
/* Requests a scheduling decision on p at the current instant. */
void sim_raise_schedule(struct sim *s, struct pcpu *p);
/* How late a hypervisor timer on p fires: a draw from the host profile's measured
 * timer lateness (0 with host.activity "off"). Policies add it to the timers they
 * re-arm from the handler's time, as Xen's do (xen/common/timer.c, sched_credit.c). */
simtime_t sim_timer_late(struct sim *s, struct pcpu *p);
/* A scheduling decision on p is due but not taken yet: raised for this instant, or
 * waiting for host activity on p to end (sim.c sched_event). Until then p may still
 * run a vCPU the policy has already decided to take off. */
static inline int sim_resched_due(const struct sim *s, const struct pcpu *p)
{
	return event_pending(&p->sched_ev) && (p->sched_ev.when == s->now || p->resched_deferred);
}
/* p's clock without the time host activity took from it: what Linux's
 * rq_clock_task is to a task's runtime (kernel/sched/core.c
 * update_rq_clock_task): another task's run (task-like activity) is never the
 * task's; interrupt time is excluded only on a kernel built with
 * CONFIG_IRQ_TIME_ACCOUNTING (the profile's irq_time_accounting), else the
 * interrupted task is charged for it, as its tick-sampled accounting does. */
static inline simtime_t sim_task_clock(const struct sim *s, const struct pcpu *p)
{
	return s->now - p->excl_ns -
	       (p->host_busy && (p->host_task || s->irq_excluded) ? s->now - p->since : 0);
}
/* Arms (or re-arms) a policy event at an absolute time. */
static inline void sim_at(struct sim *s, struct event *e, simtime_t when)
{
	evq_schedule(&s->q, e, when);
}

/* --- for the guest model --- */
void vcpu_block(struct sim *s, struct vcpu *v);
void vcpu_wake(struct sim *s, struct vcpu *v);
/* Sends a wake-up IPI that arrives after latency (a no-op if v is not blocked
 * then). */
void vcpu_send_wake_ipi(struct sim *s, struct vcpu *v, simtime_t latency);
/* The VM's guest finished its program in thread v. */
void sim_thread_done(struct sim *s, struct vcpu *v);

/* Invariant failure: prints the event, time and message; the run stops with exit 1. */
void sim_invariant_failed(struct sim *s, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
extern int sim_invariant_broken;

#endif
