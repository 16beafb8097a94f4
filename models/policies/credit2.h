/* credit2.h: Xen Credit2 as a library, scheduling "units" on "resources" as Xen
 * 4.13+ does (xen/common/sched/credit2.c over sched_unit / sched_resource): with a
 * granularity of 1 a unit is one vCPU and a resource one pCPU (the credit2
 * policy); with a granularity of the SMT width a unit is a group of sibling vCPUs
 * and a resource a core (the coresched policy). See credit2.c. */
#ifndef VCPUSIM_CREDIT2_H
#define VCPUSIM_CREDIT2_H
#include "models/sched.h"

enum c2_rq_kind { C2RQ_CPU, C2RQ_CORE, C2RQ_SOCKET, C2RQ_ALL };

struct c2_params {
	int gran;                /* vCPUs per unit = pCPUs per resource (set by the policy) */
	enum c2_rq_kind runqueue;
	simtime_t ratelimit_ns;
};

void *c2_parse(struct jp *jp, const cJSON *sched, const char *path, const char *const *extra_keys);
/* Refuses what the engine does not model (caps); for gran > 1 also affinity. */
void c2_validate(struct jp *jp, const struct scenario *sc, const void *params);
void c2_init_with(struct sim *s, const struct c2_params *prm);
void c2_destroy(struct sim *s);
void c2_wake(struct sim *s, struct vcpu *v);
void c2_sleep(struct sim *s, struct vcpu *v);
struct vcpu *c2_do_schedule(struct sim *s, struct pcpu *p, simtime_t *slice);
void c2_check(struct sim *s);

#endif
