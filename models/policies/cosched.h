/* cosched.h: IPI-driven coscheduling on top of Xen Credit, shared by `asman`
 * (the VM's coscheduled mode is switched on and off at run time by long-wait
 * reports and a Roth-Erev learner) and `hybrid-ipi` (the mode is the VM's static
 * "concurrent" flag). See cosched.c for the mechanism and its invariants, and
 * docs/policies.md for where it follows the papers and where it is ours. */
#ifndef VCPUSIM_COSCHED_H
#define VCPUSIM_COSCHED_H
#include "models/policies/credit.h"

#define ASMAN_MAX_HOLDS 16

/* scheduler.preempt: a coscheduled sibling may preempt a running vCPU whose
 * Credit priority is no higher than the initiator's (INITIATOR), than both the
 * initiator's and its own (STRICT), or any (ALWAYS). */
enum { PREEMPT_INITIATOR, PREEMPT_STRICT, PREEMPT_ALWAYS };

struct cosched_params {
	struct credit_params credit;   /* must stay first: credit_init_with reads it */
	simtime_t ipi_ns;              /* coscheduling IPI latency */
	int preempt;                   /* which runners a sibling may preempt (enum below) */
	/* asman only */
	simtime_t hypercall_ns;        /* guest CPU per long-wait report */
	simtime_t window_ns;           /* decision window */
	int engage_waits;              /* long waits in a window that engage the mode */
	int nholds;
	int holds[ASMAN_MAX_HOLDS];    /* candidate holds, in windows */
	double recency, experimentation;
	int dynamic;                   /* 1 = asman, 0 = hybrid-ipi (static flag) */
};

struct cosched_vm {
	int on;                 /* in coscheduled mode */
	simtime_t on_since;
	/* asman */
	uint64_t waits;         /* long waits reported in the current window */
	uint64_t reports;       /* long waits reported in all */
	uint64_t reports_on;    /* ... of which while coscheduled */
	int hold_left;          /* windows of the current hold still to run */
	int hold_idx;           /* index of the current / observed hold */
	int observing;          /* a hold ended, waiting to see if long waits return */
	int obs_quiet;          /* quiet windows seen since the hold ended */
	double prop[ASMAN_MAX_HOLDS];  /* Roth-Erev propensities */
	uint64_t holds_chosen[ASMAN_MAX_HOLDS];
	gsl_rng *rng;
};

struct cosched {
	const struct cosched_params *prm;
	struct cosched_vm *vm;
	struct event window;
	struct event *ipi;       /* per pCPU: a coscheduling IPI in flight */
	struct vcpu **target;    /* per pCPU: the sibling the IPI asks it to run */
	simtime_t *until;        /* per pCPU: end of the initiating sibling's slice */
	int *bar;                /* per pCPU: highest Credit priority the sibling may preempt */
	int *targeted;           /* per vCPU: pCPU an IPI for it is in flight to, or -1 */
	char *pulled;            /* per pCPU: runs a sibling dispatched by IPI */
	struct event recheck;    /* every Credit tick: pulled siblings yield to better work */
	bitword_t *used;         /* scratch */
	uint64_t cosched_ipis;
};

void *cosched_parse(struct jp *jp, const cJSON *sched, const char *path, int dynamic);
void cosched_init(struct sim *s);
void cosched_destroy(struct sim *s);
void cosched_sleep(struct sim *s, struct vcpu *v);
struct vcpu *cosched_do_schedule(struct sim *s, struct pcpu *p, simtime_t *slice);
void cosched_check(struct sim *s);
void cosched_report_vm(struct sim *s, struct vm *vm, cJSON *out);
void cosched_long_wait(struct sim *s, struct vcpu *v, uint64_t cycles);

#endif
