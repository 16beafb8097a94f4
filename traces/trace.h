/* trace.h: captured traces of real parallel programs, in memory (traces/FORMAT.md).
 *
 * A trace is one stream of timestamped events per program thread: parallel region
 * begin/end, barriers, lock request/acquire/release, thread begin/end. Time between
 * the "busy again" event of one synchronisation and the "starts waiting" event of the
 * next is the thread's computation. Two sources fill this structure: the vcpusim
 * binary format (trace_format.c, written by the capture library in traces/preload/)
 * and OTF2 archives written by Score-P (trace_otf2.c). The replay workload
 * (workloads/trace.c) replays it through traces/replay.h (trace_program_load).
 *
 * This header and trace_format.c use only the C library: the capture library, which
 * is preloaded into arbitrary programs, compiles them too. */
#ifndef VCPUSIM_TRACE_H
#define VCPUSIM_TRACE_H
#include <stddef.h>
#include <stdint.h>

/* The version this build writes when a trace needs it: a trace without tlb_flush
 * events is written as version 1, which older builds read; one with them as 2. */
#define TRACE_VERSION 2
#define TRACE_MAGIC "VCPUTRC\x1a"   /* 8 bytes; \x1a stops `type` on DOS, as in PNG */
#define TRACE_MAX_THREADS 4096
#define TRACE_MAX_LOCKS (1 << 20)
#define TRACE_MAX_STRING 4096
#define TRACE_MAX_LOCK_DEPTH 16     /* locks one thread may hold at once */

/* Event kinds. The numbers are part of the file format: never renumber. */
enum tev_kind {
	TEV_THREAD_BEGIN = 0,   /* first event of every thread */
	TEV_THREAD_END = 1,     /* last event of every thread */
	TEV_FORK = 2,           /* master enters GOMP_parallel*: waits for its team */
	TEV_JOIN = 3,           /* master returns from the region: busy again */
	TEV_REGION_BEGIN = 4,   /* thread starts the region's work (arg: team size, 0 = unknown) */
	TEV_REGION_END = 5,     /* thread ends the region's work: implicit team barrier */
	TEV_BARRIER_ENTER = 6,  /* arg: enum tbar_class */
	TEV_BARRIER_EXIT = 7,
	TEV_LOCK_REQ = 8,       /* arg: lock index; the thread starts waiting for it */
	TEV_LOCK_ACQ = 9,       /* arg: lock index; acquired, critical section starts */
	TEV_LOCK_REL = 10,      /* arg: lock index; released */
	/* version 2: a successful munmap, mprotect, madvise(MADV_DONTNEED) or mremap,
	 * stamped at its return (the kernel may have flushed the TLBs of the other
	 * CPUs running the process there). arg: pages * 4 + enum tflush_call. */
	TEV_TLB_FLUSH = 11,
	TEV_KINDS
};
extern const char *const tev_kind_names[TEV_KINDS];

enum tbar_class {
	TBAR_EXPLICIT = 0,      /* GOMP_barrier (#pragma omp barrier, end of single / static for) */
	TBAR_WORKSHARE = 1,     /* GOMP_loop_end, GOMP_sections_end (end of dynamic for, sections) */
	TBAR_PTHREAD = 2,       /* pthread_barrier_wait */
	TBAR_OTF2 = 3,          /* imported OTF2 region with role BARRIER / IMPLICIT_BARRIER */
	TBAR_CLASSES
};
extern const char *const tbar_class_names[TBAR_CLASSES];

enum tlock_class {
	TLOCK_CRITICAL = 0,       /* unnamed #pragma omp critical (one lock per program) */
	TLOCK_CRITICAL_NAMED = 1, /* #pragma omp critical(name) */
	TLOCK_ATOMIC = 2,         /* GOMP_atomic_start (atomics without hardware support) */
	TLOCK_OMP = 3,            /* omp_set_lock / omp_unset_lock */
	TLOCK_MUTEX = 4,          /* pthread_mutex_lock / unlock */
	TLOCK_SPIN = 5,           /* pthread_spin_lock / unlock */
	TLOCK_OTF2 = 6,           /* imported OTF2 lock */
	TLOCK_CLASSES
};
extern const char *const tlock_class_names[TLOCK_CLASSES];

/* The call behind a tlb_flush event (arg & 3); arg >> 2 is its length in pages
 * (4096 bytes, rounded up, at most TFLUSH_MAX_PAGES). */
enum tflush_call { TFLUSH_MUNMAP = 0, TFLUSH_MPROTECT = 1, TFLUSH_MADVISE = 2, TFLUSH_MREMAP = 3 };
#define TFLUSH_MAX_PAGES ((1u << 30) - 1)
extern const char *const tflush_call_names[4];

struct trace_event {
	uint64_t t;      /* ns since the start of the trace */
	uint32_t kind;   /* enum tev_kind */
	uint32_t arg;    /* see the kind */
};

struct trace_thread {
	size_t n, cap;
	struct trace_event *ev;
};

struct trace_lock {
	uint32_t cls;    /* enum tlock_class */
	char *name;
};

struct trace {
	uint32_t version;
	char *format;        /* "vcpusim" or "otf2" (not stored in the file) */
	char *clock;         /* e.g. "CLOCK_MONOTONIC ns" */
	char *program;       /* command line */
	char *host;          /* capture host */
	uint64_t start_unix_ns;  /* wall-clock time of t = 0 (informational; 0 = unknown) */
	uint64_t duration_ns;    /* t of the end of the run; every event has t <= this */
	int nthreads;
	struct trace_thread *threads;
	uint32_t nlocks;
	struct trace_lock *locks;
};

/* Building (capture library, OTF2 import, tests). Return 0, or -1 when out of memory. */
struct trace *trace_new(void);
int trace_set_str(char **field, const char *s);
int trace_add_thread(struct trace *t);     /* returns the new index or -1 */
int trace_add_lock(struct trace *t, uint32_t cls, const char *name); /* index or -1 */
int trace_push(struct trace_thread *th, uint64_t t, uint32_t kind, uint32_t arg);
void trace_free(struct trace *t);

/* Checks the structure of every stream (FORMAT.md, "Rules"). Returns 0, or -1 with
 * a description in err ("thread 1, event 7: lock release of lock 3, which the thread
 * does not hold"). */
int trace_validate(const struct trace *t, char *err, size_t errlen);

/* Encodes into a malloc'ed buffer. Returns 0, or -1 (out of memory). */
int trace_encode(const struct trace *t, unsigned char **buf, size_t *len);
/* Decodes and validates. name is used in messages ("NAME: truncated ..."). Returns
 * NULL with a message in err on any defect; never reads outside buf. */
struct trace *trace_decode(const unsigned char *buf, size_t len, const char *name,
			   char *err, size_t errlen);
/* The same checks as trace_decode, but the events stay encoded in buf: nothing is
 * allocated per event (a replay reads them from buf as it goes, traces/replay.h).
 * The trace has the header, the locks and its threads with their event counts (n)
 * and no events (ev NULL); *offsets (malloc'ed) gives the offset in buf of each
 * thread's first event, to read with trace_stream_next. each, if not NULL, is
 * called once with e NULL and thread the number of threads (t has the header and
 * the locks by then), then with the events as they are checked, thread after
 * thread, n at a time (a batch of one thread's, in order: one call per event was a
 * tenth of loading). */
typedef void (*trace_event_fn)(void *ctx, const struct trace *t, int thread,
			       const struct trace_event *e, size_t n);
struct trace *trace_decode_lazy(const unsigned char *buf, size_t len, const char *name,
				char *err, size_t errlen, size_t **offsets, trace_event_fn each,
				void *ctx);

/* The checks of everything before the streams (magic, version, length, CRC, the
 * header's fields, lock classes, at least one thread) and the trace of them: no
 * threads yet (threads allocated for *nthreads), *first the offset of the first
 * stream. NULL on any defect, without a message (trace_decode gives it): for a
 * reader that checks the streams its own way (trace_replay.c, program_fast). */
struct trace *trace_decode_header(const unsigned char *buf, size_t len, size_t *first,
				  uint64_t *nthreads);

/* The file's CRC-32 (FORMAT.md) of n bytes at p: with fast 1 as the reader takes it
 * (carry-less multiplication where the CPU has it), 0 by tables only (for tests). */
uint32_t trace_crc32(const unsigned char *p, size_t n, int fast);

/* An unsigned LEB128 varint at buf[*o] that trace_decode_lazy has checked. */
static inline uint64_t trace_uv_checked(const unsigned char *buf, size_t *o)
{
	uint64_t v = 0;
	for (int sh = 0;; sh += 7) {
		unsigned char b = buf[(*o)++];
		v |= (uint64_t)(b & 0x7F) << sh;
		if (!(b & 0x80))
			return v;
	}
}

/* The event at *off of a stream checked by trace_decode_lazy: advances *off and
 * *now (the time of the previous event, 0 before the first). */
static inline void trace_stream_next(const unsigned char *buf, size_t *off, uint64_t *now,
				     struct trace_event *e)
{
	uint32_t kind = buf[(*off)++];
	*now += trace_uv_checked(buf, off);
	uint32_t arg = 0;
	if (kind == TEV_REGION_BEGIN || kind == TEV_BARRIER_ENTER || kind == TEV_LOCK_REQ ||
	    kind == TEV_LOCK_ACQ || kind == TEV_LOCK_REL || kind == TEV_TLB_FLUSH)
		arg = (uint32_t)trace_uv_checked(buf, off);
	*e = (struct trace_event){ *now, kind, arg };
}

/* Writes atomically (temporary file in the same directory, then rename). Returns 0,
 * or -1 with a message naming the file in err. */
int trace_write_file(const struct trace *t, const char *path, char *err, size_t errlen);

/* Loads a trace file of any supported kind: the vcpusim format (by its magic) or an
 * OTF2 archive (an anchor file, *.otf2). NULL with "PATH: what is wrong" in err. */
struct trace *trace_load(const char *path, char *err, size_t errlen);
/* OTF2 import (trace_otf2.c); NULL with a message if the build lacks OTF2. */
struct trace *trace_load_otf2(const char *path, char *err, size_t errlen);
int trace_have_otf2(void);

/* Summary figures (trace_replay.c), as printed by `vcpusim trace info`. */
struct trace_stats {
	uint64_t events, by_kind[TEV_KINDS];
	uint64_t barriers;        /* barrier waits, per trace (region ends included) */
	uint64_t regions;         /* region begins */
	uint64_t acquisitions;    /* lock acquisitions */
	uint64_t tlb_flushes;     /* tlb_flush events (calls that may shoot down TLBs) */
	uint64_t tlb_by_call[4];  /* of which by enum tflush_call */
	uint64_t sync_points;     /* barriers + region begins + acquisitions */
	uint64_t compute_ns;      /* sum over threads of busy time outside sync waits */
	uint64_t cs_ns;           /* of which inside critical sections */
	double compute_fraction;  /* compute_ns / (threads x duration) */
	double mean_interval_ns;  /* compute_ns / sync_points: the grain */
};
void trace_stats(const struct trace *t, struct trace_stats *st);

#endif
