/* hybrid_ipi.c: the `hybrid-ipi` policy, a variant of `hybrid` (gang.c) for
 * comparison: VMs flagged "concurrent": true are always in coscheduled mode with
 * ASMan's execution mechanism (IPIs that dispatch a VM's runnable siblings
 * together on top of Credit, cosched.c); every other VM is scheduled by Credit
 * alone. It is asman with a static decision instead of the adaptive one, so the
 * two differ only in *when* a VM is coscheduled.
 * Invariants: those of cosched.c; a VM is coscheduled iff it is flagged and has
 * more than one vCPU. */
#include <stdlib.h>
#include "models/policies/cosched.h"

static void *parse(struct jp *jp, const cJSON *sched, const char *path)
{
	return cosched_parse(jp, sched, path, 0);
}

const struct sched_ops sched_hybrid_ipi = {
	.name = "hybrid-ipi",
	.summary = "hybrid with ASMan's IPI coscheduling: VMs flagged \"concurrent\" always coscheduled, on Credit",
	.source = "Weng et al., VEE 2009 (cited by the HPDC 2011 abstract); docs/policies.md",
	.parse = parse,
	.free_params = free,
	.init = cosched_init,
	.destroy = cosched_destroy,
	.wake = credit_wake,
	.sleep = cosched_sleep,
	.do_schedule = cosched_do_schedule,
	.check = cosched_check,
	.report_vm = cosched_report_vm,
};
