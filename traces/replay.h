/* replay.h: a trace (trace.h) turned into guest programs: one stream of operations
 * (workloads/workload.h) per trace thread, for the "trace" workload
 * (workloads/trace.c) and for `vcpusim trace info`.
 *
 * Computation between synchronisation points becomes OP_COMPUTE, a lock's critical
 * section OP_LOCK (hold time as recorded), every barrier, region start and region end
 * OP_BARRIER, a tlb_flush event (munmap, mprotect, ...) OP_TLB_SHOOTDOWN. Waiting
 * times are dropped: the simulator recreates them.
 *
 * The program keeps the trace in its encoded form (the file's bytes, checked once
 * when loaded) and each replaying thread decodes its operations as it reaches them
 * (trace_program_next): loading allocates nothing per event, so it costs one pass
 * over the file, not a copy of every event and operation into fresh memory (which
 * was two thirds of a replay run's CPU time, most of it page faults). */
#ifndef VCPUSIM_REPLAY_H
#define VCPUSIM_REPLAY_H
#include <stddef.h>
#include "traces/trace.h"
#include "workloads/workload.h"

struct trace_program {
	int nthreads;
	int nlocks;            /* distinct locks the ops use (0..nlocks-1) */
	size_t *nops;          /* per thread: operations in one pass of its stream */
	uint64_t barriers;     /* OP_BARRIER per thread (equal in every thread) */
	double scale;          /* durations are multiplied by it */
	unsigned char *buf;    /* the encoded trace (traces/FORMAT.md), checked */
	size_t buf_map;        /* buf is a mapping of this many bytes (0: malloc'ed) */
	size_t *start;         /* per thread: offset in buf of its first event */
	size_t *count;         /* per thread: its events */
	int *lockmap;          /* trace lock -> op lock (order of first use), -1 unused */
	uint32_t trace_locks;  /* the trace's lock definitions (lockmap's length) */
	uint64_t tlb_flushes;  /* OP_TLB_SHOOTDOWN in one pass, all threads */
	uint64_t fork_t;       /* thread 0's first fork, UINT64_MAX if none */
};

/* The walk over one thread's events (trace_replay.c): what is open. */
struct trace_walk {
	int busy, nheld;
	int tlb_held;          /* tlb_flush events inside the open critical section */
	uint64_t since, acq;
	uint32_t outer;
};

/* Where a replaying thread is in its stream. */
struct trace_cursor {
	size_t off, left;
	uint64_t now;
	struct trace_walk w;
	simtime_t acc;         /* compute read but not returned yet */
	struct op pending;     /* the op read after it */
	int has_pending;
	int tlb_pending;       /* OP_TLB_SHOOTDOWNs to return after pending */
	int fork_signal;       /* set by the caller: an OP_SIGNAL of flag 0 follows the
				* stream's next fork (the master creating its team) */
};

/* Builds the programs of a decoded trace (e.g. imported from OTF2); durations are
 * multiplied by time_scale. Returns 0, or -1 with a message in err (e.g. threads
 * that disagree on the number of barriers). */
int trace_to_program(const struct trace *t, double time_scale, struct trace_program *p,
		     char *err, size_t errlen);
/* Loads a trace file of any kind (trace_load's) as programs: a vcpusim trace is
 * checked and kept encoded, never decoded into memory. err: "PATH: ...". */
int trace_program_load(const char *path, double time_scale, struct trace_program *p,
		       char *err, size_t errlen);
void trace_program_free(struct trace_program *p);
/* Builds p from buf, an encoded vcpusim trace of len bytes, which p takes over
 * (freed by trace_program_free, or at once on failure); name is for messages.
 * reference 1: only the reference path (the checks of trace_decode_lazy and the
 * walk), for tests that compare it with the fast one. */
int trace_program_from_buffer(unsigned char *buf, size_t len, const char *name, double scale,
			      int reference, struct trace_program *p, char *err, size_t errlen);
/* Loads whose fast path declined and left the trace to the reference path (a
 * defect, or a case it does not handle): for tests, which check that valid traces
 * never need it (the reference path is ~2x slower). */
extern unsigned long trace_program_fallbacks;
/* 1 if a and b are the same program (for tests of the two loading paths). */
int trace_program_same(const struct trace_program *a, const struct trace_program *b);

/* Thread i from its first op. */
void trace_cursor_start(const struct trace_program *p, int i, struct trace_cursor *c);
/* 1 if thread i (> 0) was created by the master's first fork: its thread_begin is
 * no earlier than thread 0's first fork (traces/FORMAT.md, "Replay"). */
int trace_program_spawned(const struct trace_program *p, int i);
/* Its next op (OP_END after the last). */
void trace_program_next(const struct trace_program *p, struct trace_cursor *c, struct op *out);
/* All of thread i's ops (one pass) in a malloc'ed array (*ops; NULL when out of
 * memory): for tests and tools. Returns how many trace_program_next gave. */
size_t trace_program_ops(const struct trace_program *p, int i, struct op **ops);

#endif
