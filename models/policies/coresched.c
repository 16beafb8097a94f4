/* coresched.c: core scheduling (Xen 4.13+ sched-gran=core) over Credit2.
 *
 * What it does: the SMT threads of a core only ever run vCPUs of one VM (or
 * idle), so a VM never shares a core's caches and execution units with another
 * (the defence against cross-VM SMT side channels that motivated it). vCPUs are
 * grouped in units of as many siblings as a core has threads (vCPUs 0-1, 2-3, ...
 * on a 2-thread host); Credit2 (credit2.c) schedules units on cores; a core runs
 * all the vCPUs of its unit at once, a thread whose vCPU is blocked (or missing, if
 * the VM's vCPU count is not a multiple of the threads) stays idle, and a switch
 * is decided once per core and carried out by all its threads at one instant.
 *
 * Source: Xen 4.13+ "sched-gran=core" (xen/common/sched/core.c: sched_unit,
 * sched_resource and the rendezvous in schedule()), docs/misc/xen-command-line
 * ("sched-gran"); docs/xen-credit.md, "Later schedulers". Core scheduling
 * in Linux (core_sched, 5.14+) enforces the same property with cookies.
 *
 * Invariants kept (check, under --check, after every event): Credit2's
 * (c2_check), and on every core the threads that are not switching at this
 * instant run vCPUs of one VM only. (The simulator switches a core's threads in
 * separate events of one instant; no simulated time passes in a mixed state.)
 *
 * Where we interpret: the scheduler under the units is Credit2 (Xen allows
 * Credit too); see credit2.c for its own interpretations. It is meaningful only
 * with SMT (host.threads > 1); with one thread per core it is exactly credit2.
 * Caps and affinity are refused. */
#include <stdlib.h>
#include "models/policies/credit2.h"
#include "sim/scenario.h"
#include "sim/sim.h"

static void *parse(struct jp *jp, const cJSON *sched, const char *path)
{
	return c2_parse(jp, sched, path, NULL);
}

static void validate(struct jp *jp, const struct scenario *sc, const void *params)
{
	/* host.threads 1 is accepted: each core has one thread, the property holds
	 * trivially and coresched is credit2 (so `make demo`, which runs every
	 * policy on the built-in non-SMT host, keeps working) */
	c2_validate(jp, sc, params);
}

static void init(struct sim *s)
{
	struct c2_params prm = *(const struct c2_params *)s->policy_params;
	prm.gran = s->host.threads;
	c2_init_with(s, &prm);
}

static void check(struct sim *s)
{
	c2_check(s);
	int t = s->host.threads;
	for (int core = 0; core < s->host.npcpus / t; core++) {
		const struct vm *owner = NULL;
		for (int i = core * t; i < core * t + t; i++) {
			const struct pcpu *p = &s->host.pcpus[i];
			if (!p->curr || (sim_resched_due(s, p)))
				continue;
			if (owner && p->curr->vm != owner)
				sim_invariant_failed(s, "coresched: core of pCPU %d runs vCPUs of %s and %s",
						     i, owner->name, p->curr->vm->name);
			owner = p->curr->vm;
		}
	}
}

const struct sched_ops sched_coresched = {
	.name = "coresched",
	.summary = "core scheduling (sched-gran=core): SMT threads of a core only run one VM's vCPUs",
	.source = "Xen 4.13+ sched-gran=core over Credit2 (xen/common/sched/core.c)",
	.parse = parse,
	.free_params = free,
	.validate = validate,
	.init = init,
	.destroy = c2_destroy,
	.wake = c2_wake,
	.sleep = c2_sleep,
	.do_schedule = c2_do_schedule,
	.check = check,
};
