/* hybrid.c: the `hybrid` policy (Weng, Wang, Li and Lu, "The hybrid scheduling
 * framework for virtual machine systems", VEE 2009): VMs flagged
 * "concurrent": true are always in coscheduled mode, every other VM is scheduled
 * by Xen Credit alone. Both kinds share the pCPUs through Credit: one runqueue
 * per pCPU, one accounting; a flagged VM's vCPUs are dispatched together by IPIs
 * whenever Credit dispatches one of them (cosched.c). With no VM flagged this is
 * exactly Credit (tests/test_hybrid.c checks byte-identical results).
 * Invariants: those of cosched.c, and a VM is coscheduled iff it is flagged
 * and has more than one vCPU. */
#include <stdlib.h>
#include "models/policies/cosched.h"

static void *parse(struct jp *jp, const cJSON *sched, const char *path)
{
	return cosched_parse(jp, sched, path, 0);
}

const struct sched_ops sched_hybrid = {
	.name = "hybrid",
	.summary = "VEE 2009 hybrid: VMs flagged \"concurrent\" coscheduled by IPIs, the rest under Credit",
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
