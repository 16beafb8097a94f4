/* credit.h: Xen Credit as a library for the policies built on it (asman, hybrid,
 * balance): they reuse its accounting, runqueues and stealing and override only
 * what differs. See credit.c for the behaviour and its sources. */
#ifndef VCPUSIM_CREDIT_H
#define VCPUSIM_CREDIT_H
#include "models/sched.h"

enum credit_pri { PRI_IDLE = -64, PRI_OVER = -2, PRI_UNDER = -1, PRI_BOOST = 0 };

struct credit_params {
	int timeslice_ms;       /* 30 (Xen 4.2+: 1..1000) */
	int ratelimit_us;       /* 0 = off (Xen 4.0); 4.2+ default 1000 */
	int boost;              /* BOOST on wake (always on in Xen; off = an experiment) */
	int boost_on_migrate;   /* 4.0 yes, 4.7+ no */
	int halve_on_clip;      /* 4.1+: credit above the cap is halved, not reset */
	int sample_burn;        /* Xen 3.4: debit 100 credits per tick from the runner */
};

/* What a scheduling decision, a wake-up, a runqueue walk and a tick read is in
 * the first 64 bytes, and each entry is two cache lines, aligned: on a large host
 * a vCPU's decision misses on one line of it, not two (docs/performance.md). */
struct credit_vcpu {
	struct vcpu *v;
	int credit;
	int pri;
	/* flags (0 or 1), bytes: with rem and active on the first line */
	unsigned char parked, migrating, on_runq;
	unsigned char foreign;  /* scheduled by a derived policy (hybrid's gangs): Credit ignores it */
	int rq_cpu;
	simtime_t start_time;   /* burn start; unburned remainder carried across runs */
	struct credit_vcpu *rq_prev, *rq_next;
	simtime_t rem;          /* (read with start_time at a dispatch) */
	int active;
	int clipped;            /* accounted (so clipped) since it last became active */
	struct credit_vcpu *act_prev, *act_next;  /* in the domain's active list */
} __attribute__((aligned(64)));
_Static_assert(offsetof(struct credit_vcpu, clipped) < 64, "credit_vcpu's first line");

struct credit_dom {
	struct vm *vm;
	int active_vcpus;
	int active;
	struct credit_vcpu *act_head;
	struct credit_dom *prev, *next;           /* in the active domain list */
};

struct credit_pcpu {
	struct credit_vcpu *rq_head, *rq_tail;
	struct event tick;
	uint64_t runq_sort_last;
};

struct credit {
	struct credit_params prm;
	simtime_t tick_ns, tslice_ns;
	int credits_per_tslice, credits_per_acct;
	struct credit_vcpu *v;
	struct credit_dom *d;
	struct credit_pcpu *p;
	bitword_t *idlers;       /* pCPUs running idle (Xen prv->idlers) */
	bitword_t *queued;       /* pCPUs with a non-empty runqueue (only to skip empty peers) */
	bitword_t *head_hi;      /* pCPUs whose runqueue head is BOOST or UNDER (ditto) */
	bitword_t *scratch, *scratch2;
	struct credit_dom *active_doms;
	int weight_total;
	int credit_balance;
	uint64_t runq_sort;
	struct event acct;
	void *ext;               /* state of a policy built on credit */
	const bitword_t *avail;  /* pCPUs Credit may place, tickle and run on; NULL = all
	                            (hybrid lends the others to gangs) */
	/* Hooks for derived policies (NULL = Xen's behaviour; used by balance).
	 * place: the pCPU whose runqueue v joins when it wakes, is unparked or
	 * migrates after a tick; cpu is Xen's choice; incoming is the vCPU that
	 * do_schedule is about to dispatch on incoming_cpu (not yet in its curr),
	 * NULL/-1 outside do_schedule. may_steal: whether cpu may steal v. */
	int (*place)(struct sim *s, struct vcpu *v, int cpu, const struct vcpu *incoming,
		     int incoming_cpu);
	int (*may_steal)(struct sim *s, const struct vcpu *v, int cpu);
};

void *credit_parse_params(struct jp *jp, const cJSON *sched, const char *path,
			  const char *const *extra_keys);
void credit_init_with(struct sim *s, const struct credit_params *prm);
void credit_destroy(struct sim *s);
void credit_wake(struct sim *s, struct vcpu *v);
void credit_sleep(struct sim *s, struct vcpu *v);
struct vcpu *credit_do_schedule(struct sim *s, struct pcpu *p, simtime_t *slice);
void credit_check(struct sim *s);
/* Building blocks for derived policies. */
void credit_runq_insert(struct sim *s, int cpu, struct credit_vcpu *cv);
void credit_runq_remove(struct sim *s, struct credit_vcpu *cv);
void credit_tickle(struct sim *s, int cpu, struct credit_vcpu *cv);
void credit_burn(struct sim *s, struct credit_vcpu *cv);
/* Takes a runnable vCPU off the runqueues / puts it back (Xen vcpu_pause_nosync /
 * vcpu_unpause): caps use it; relaxed uses it to co-stop. */
void credit_park(struct sim *s, struct credit_vcpu *cv);
void credit_unpark(struct sim *s, struct credit_vcpu *cv);
static inline struct credit *credit_of(struct sim *s);

#include "sim/sim.h"
static inline struct credit *credit_of(struct sim *s) { return (struct credit *)s->policy; }

#endif
