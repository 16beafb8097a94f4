/* asman.c: the `asman` policy: adaptive dynamic coscheduling on top of Xen Credit
 * (Weng et al., "Dynamic adaptive scheduling for virtual machines", HPDC 2011;
 * docs/model.md, "Policies"). A VM enters coscheduled mode when its guest
 * reports long spinlock waits, stays there for a hold chosen by a Roth-Erev
 * learner, and while there its runnable vCPUs are dispatched together by IPIs.
 * The mechanism, its invariants and what is our interpretation are in cosched.c
 * and docs/policies.md. */
#include <stdlib.h>
#include "models/policies/cosched.h"

static void *parse(struct jp *jp, const cJSON *sched, const char *path)
{
	return cosched_parse(jp, sched, path, 1);
}

const struct sched_ops sched_asman = {
	.name = "asman",
	.summary = "ASMan: Credit + coscheduling engaged by long spinlock waits, held for Roth-Erev-learnt windows",
	.source = "Weng et al., HPDC 2011; docs/model.md; our interpretation in docs/policies.md",
	.parse = parse,
	.free_params = free,
	.init = cosched_init,
	.destroy = cosched_destroy,
	.wake = credit_wake,
	.sleep = cosched_sleep,
	.do_schedule = cosched_do_schedule,
	.long_wait = cosched_long_wait,
	.check = cosched_check,
	.report_vm = cosched_report_vm,
};
