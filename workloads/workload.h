/* workload.h: what a guest thread executes.
 *
 * A workload is a generator of operations, one thread (= one vCPU) at a time: the
 * guest model (models/guest.c) asks for the next operation when the previous one
 * has finished and executes it with the timing of the vCPU it runs on. A workload
 * kind is one file behind this table plus one line in workloads/registry.c.
 * Randomness comes only from the stream passed in (one per vCPU, rng.h). */
#ifndef VCPUSIM_WORKLOAD_H
#define VCPUSIM_WORKLOAD_H
#include <gsl/gsl_rng.h>
#include <gsl/gsl_randist.h>
#include <cjson/cJSON.h>
#include "sim/simtime.h"
#include "sim/jparse.h"

enum op_kind {
	OP_COMPUTE,   /* ns of CPU time */
	OP_LOCK,      /* acquire guest spinlock `lock`, hold it for cs_ns of CPU, release */
	OP_BARRIER,   /* wait for all threads of the VM (spin, then futex sleep) */
	OP_SLEEP,     /* block for ns of wall time (I/O, timer), then wake */
	OP_END,       /* the thread's program is over */
	/* Point-to-point hand-offs through per-VM counters ("flags"), as in NPB LU's
	 * sync_left/sync_right: a pure busy-wait in user space, no futex, no yield. */
	OP_SIGNAL,    /* flags[flag] += 1 (a store: no CPU time); releases its waiters */
	OP_WAIT,      /* spin (burning CPU) until flags[flag] >= value; with block set,
		       * halt instead and be woken by the signal's IPI (a thread that
		       * does not exist yet: workloads/trace.c) */
	/* The guest kernel flushes the TLBs of the process's other CPUs (munmap,
	 * mprotect): an IPI to each, then a spin until every one acknowledges. */
	OP_TLB_SHOOTDOWN,
};

struct op {
	enum op_kind kind;
	int lock;          /* OP_LOCK: index into the VM's workload locks */
	simtime_t ns;      /* OP_COMPUTE, OP_SLEEP */
	simtime_t cs_ns;   /* OP_LOCK */
	int request;       /* nonzero: completing this op serves one request (io) */
	int batch;         /* OP_LOCK: real acquisitions this one stands for (0 = 1);
			    * see workloads/npb.c, UA's aggregated locks */
	int flag;          /* OP_SIGNAL, OP_WAIT: index into the VM's flags */
	int block;         /* OP_WAIT: halt (no spinning) until a signal wakes it */
	int64_t value;     /* OP_WAIT: the count to wait for */
};   /* (no holes; the fields every compute and lock reads first: models/model.h) */

struct workload_params; /* opaque, per kind */

struct workload_kind {
	const char *name;
	const char *summary;  /* one line, for `vcpusim list workloads` */
	/* Reads the workload object w (path names it in errors). vcpus is the VM's
	 * thread count. Returns params (errors recorded in jp). */
	struct workload_params *(*parse)(struct jp *jp, const cJSON *w, const char *path,
					 int vcpus);
	void (*free_params)(struct workload_params *p);
	int (*locks)(const struct workload_params *p);    /* spinlocks it uses */
	/* Optional (NULL = the guest's spinlock kind, guest.spinlock): the kind of its
	 * locks, an index into lock_kind_names (models/guest.h), or -1 for the guest's.
	 * For user-space locks that are not the guest kernel's (npb UA's omp locks). */
	int (*lock_kind)(const struct workload_params *p);
	/* Optional (NULL = none): hand-off counters it uses with `threads` threads. */
	int (*flags)(const struct workload_params *p, int threads);
	int (*finite)(const struct workload_params *p);   /* 1 if it ends */
	/* Per-VM instance state, e.g. per-thread counters. */
	void *(*start)(const struct workload_params *p, int threads);
	void (*stop)(void *state);
	/* Writes the next op of thread t into out. */
	void (*next_op)(void *state, const struct workload_params *p, int t, gsl_rng *rng,
			struct op *out);
};

/* A duration of the given mean (ns): exponentially distributed, or fixed. */
static inline simtime_t workload_draw(int exponential, double mean, gsl_rng *rng)
{
	double x = exponential ? gsl_ran_exponential(rng, mean) : mean;
	return (simtime_t)(x + 0.5);
}

const struct workload_kind *workload_find(const char *name);

/* The keys that give a kind's operations a duration, for messages. */
const char *workload_time_keys(const char *kind);

/* 1 when the workload's first operations (10000 of thread 0, 64 of each other
 * thread, drawn with a private random stream, so a run is not affected) are all
 * computes of 0 ns or signals: the guest runs those one after the other inside
 * one event, so a run could only loop there, with no event for the no-progress
 * check to see (issue 13, item 6). */
int workload_takes_no_time(const struct workload_kind *wk, const struct workload_params *wp,
			   int threads);
extern const struct workload_kind *const workload_kinds[];
/* Keeps the traces that trace workloads read, for the next runs in this process
 * (a sweep's workers, workloads/trace.c). */
void trace_workload_cache(int on);

#endif
