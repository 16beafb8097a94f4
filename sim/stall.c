/* stall.c: naming the VM that keeps a run at one instant (sim/stall.h). */
#include "sim/stall.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "sim/sim.h"
#include "workloads/workload.h"

uint64_t stall_base_events = STALL_EVENTS;
uint64_t stall_event_budget = 0;

void stall_init(struct stall *st, const struct sim *s)
{
	memset(st, 0, sizeof *st);
	st->at = -1;
	st->limit = stall_base_events + (uint64_t)STALL_PER_VCPU * (uint64_t)s->nvcpus;
	st->budget = stall_event_budget ? stall_event_budget : UINT64_MAX;
}

void stall_free(struct stall *st)
{
	free(st->per_vm);
	st->per_vm = NULL;
}

int stall_slow(struct stall *st, struct sim *s, const struct event *e)
{
	if (!st->per_vm) {
		st->per_vm = calloc((size_t)s->nvms, sizeof *st->per_vm);
		if (!st->per_vm)
			return 0;
	}
	/* vCPU events (guest steps, wake-ups) tell whose work it is */
	if (e->kind == EV_GUEST || e->kind == EV_IPI) {
		const struct vcpu *v = e->owner;
		st->per_vm[v->vm->id]++;
	}
	if (st->n < st->limit + STALL_WINDOW)
		return 0;
	int worst = 0;
	for (int i = 1; i < s->nvms; i++)
		if (st->per_vm[i] > st->per_vm[worst])
			worst = i;
	const struct vm *vm = &s->vms[worst];
	fprintf(stderr,
		"vcpusim: no progress: %llu events at t = %.3f ms without simulated time "
		"advancing; VM '%s' (workload %s) repeats operations that take no time. "
		"Give them a duration: %s (a barrier also costs guest.futex_cs_ns)\n",
		(unsigned long long)st->n, simtime_ms(s->now), vm->name, vm->wk->name, workload_time_keys(vm->wk->name));
	return 1;
}
