/* replay.h: a trace (trace.h) turned into guest programs: one list of operations
 * (workloads/workload.h) per trace thread, for the "trace" workload
 * (workloads/trace.c) and for `vcpusim trace info`.
 *
 * Computation between synchronisation points becomes OP_COMPUTE, a lock's critical
 * section OP_LOCK (hold time as recorded), every barrier, region start and region end
 * OP_BARRIER. Waiting times are dropped: the simulator recreates them. */
#ifndef VCPUSIM_REPLAY_H
#define VCPUSIM_REPLAY_H
#include <stddef.h>
#include "traces/trace.h"
#include "workloads/workload.h"

struct trace_program {
	int nthreads;
	int nlocks;            /* distinct locks the ops use (0..nlocks-1) */
	size_t *nops;          /* per thread */
	struct op **ops;       /* per thread */
	uint64_t barriers;     /* OP_BARRIER per thread (equal in every thread) */
};

/* Builds the programs; durations are multiplied by time_scale. Returns 0, or -1
 * with a message in err (e.g. threads that disagree on the number of barriers). */
int trace_to_program(const struct trace *t, double time_scale, struct trace_program *p,
		     char *err, size_t errlen);
void trace_program_free(struct trace_program *p);

#endif
