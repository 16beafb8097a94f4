/* capture.c: libvcpusim_capture.so, the LD_PRELOAD library behind `vcpusim capture`
 * (docs/traces.md). It interposes the entry points of both OpenMP runtimes (GCC's
 * libgomp and LLVM's libomp) and the pthread synchronisation calls, records per thread a timestamped event at each
 * synchronisation, and at exit writes the trace (traces/FORMAT.md) to the file
 * named by VCPUSIM_TRACE_OUT.
 *
 * Interposition: the dynamic linker resolves the program's calls to the first
 * definition in load order, and a preloaded library comes first (ld.so(8),
 * LD_PRELOAD); each wrapper calls the real function found with dlsym(RTLD_NEXT).
 * libgomp calls its own entry points through hidden aliases (libgomp/libgomp.h,
 * ialias), so only the program's calls are seen, never libgomp's internal ones;
 * libomp calls some of its entry points through its PLT, so calls made while a
 * wrapper is running (rt_depth) are not recorded. libomp (clang, Intel's
 * compilers; __kmpc_*) has its own section below. The libgomp entry points and
 * what they mean are those of GCC's libgomp ABI
 * (libgomp/libgomp_g.h, libgomp/parallel.c, libgomp/barrier.c, libgomp/critical.c):
 * GOMP_parallel* start a region: the master calls fn itself, then the end-of-region
 * barrier; a static `omp for` ends with GOMP_barrier, a dynamic one with
 * GOMP_loop_end. The outlined region function is wrapped, so every thread of the
 * team records where its share of the region begins and ends.
 *
 * A release is stamped just after the real unlock, so recording adds one clock read
 * (the acquisition's), not two, to every critical section: lengthening short
 * sections would raise the contention being measured.
 *
 * Clock: the TSC (rdtsc, about 9 ns a read here) when the kernel itself trusts it
 * (clocksource tsc, CPU flags constant_tsc and nonstop_tsc: invariant and
 * synchronised across CPUs), converted to nanoseconds at exit by the two-point fit
 * against CLOCK_MONOTONIC read at start and at exit; otherwise
 * clock_gettime(CLOCK_MONOTONIC) (about 20 ns through the vDSO).
 * VCPUSIM_CAPTURE_CLOCK=monotonic forces the latter.
 *
 * CPU-time mode (VCPUSIM_CAPTURE_CLOCK=cpu or cpu,monotonic; `vcpusim capture
 * --clock cpu`): every event also reads the thread's CLOCK_THREAD_CPUTIME_ID. At exit
 * each busy interval (compute, or a critical section: an interval that starts at
 * thread_begin, join, region_begin, barrier_exit, lock_acquire or lock_release)
 * is shortened to min(wall, CPU time), so time a thread spent descheduled by the host
 * while busy (more threads than cores) is not recorded as its work; then retime()
 * recomputes the waits on one timeline for all threads (traces/FORMAT.md, "CPU-time
 * stamps"). Recording is lock-free: each
 * thread appends to its own list of fixed-size chunks, publishing the count with a
 * release store, so the exit handler can read every buffer safely. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <dlfcn.h>
#include <link.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>
#include "traces/trace.h"
#if defined(__x86_64__) || defined(__i386__)
#include <x86intrin.h>
#define HAVE_RDTSC 1
#endif

#define TLS __thread __attribute__((tls_model("initial-exec")))
#define EXPORT __attribute__((visibility("default")))
#define MAX_THREADS 1024
#define CHUNK_EVENTS 4096

enum { RAW_CANCEL = 100 };   /* the last lock request failed (error return) */

struct raw {
	uint64_t t;
	uint64_t cpu;      /* thread CPU time, ns (CPU-time mode only) */
	uintptr_t arg;     /* lock address, barrier class or team size */
	uint32_t kind;     /* enum tev_kind or RAW_CANCEL */
	uint32_t cls;      /* lock class */
};

struct chunk {
	struct chunk *_Atomic next;
	_Atomic uint32_t n;
	struct raw ev[CHUNK_EVENTS];
};

struct tbuf {
	struct chunk *first, *cur;
	_Atomic int created;   /* threads this thread created */
};

static int active;                       /* recording in this process */
static pid_t owner;                      /* the process that records */
static atomic_int stopping;
static uint64_t base_ns, base_unix_ns;
static struct tbuf *_Atomic threads[MAX_THREADS];
static atomic_int nthreads;
static TLS struct tbuf *me_tb;
static TLS int in_hook;
/* Inside a wrapped runtime call: the runtime's own calls to other wrapped entry
 * points (libomp calls __kmpc_barrier, __kmpc_critical and __kmpc_fork_call through
 * its PLT from its GOMP_* compatibility layer) are not the program's and are not
 * recorded. Reset to 0 while the program's outlined region function runs. */
static TLS int rt_depth;
static atomic_int seen_runtime;          /* a recognised runtime call was recorded */

static inline uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static int use_tsc;        /* timestamps are TSC ticks since base_stamp */
static int use_cpu;        /* also record thread CPU time (CPU-time mode) */
static uint64_t base_stamp;

/* A timestamp in the recording unit: TSC ticks or ns. */
static inline uint64_t stamp(void)
{
#ifdef HAVE_RDTSC
	if (use_tsc)
		return __rdtsc();
#endif
	return now_ns();
}

static int file_has(const char *path, const char *const *words)
{
	FILE *f = fopen(path, "r");
	if (!f)
		return 0;
	char line[4096];
	int found = 0, n = 0;
	while (words[n])
		n++;
	int seen[8] = { 0 };
	while (fgets(line, sizeof line, f))
		for (int i = 0; i < n && i < 8; i++) {
			size_t wl = strlen(words[i]);
			for (char *p = strstr(line, words[i]); p; p = strstr(p + 1, words[i]))
				if ((p == line || p[-1] == ' ' || p[-1] == '\t') &&
				    (p[wl] == ' ' || p[wl] == '\n' || p[wl] == 0))
					seen[i] = 1;
		}
	fclose(f);
	found = 1;
	for (int i = 0; i < n && i < 8; i++)
		found &= seen[i];
	return found;
}

static inline uint64_t thread_cpu_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* VCPUSIM_CAPTURE_CLOCK: comma-separated words; "monotonic" forces
 * CLOCK_MONOTONIC as the wall clock, "cpu" selects CPU-time mode. */
static int clock_word(const char *w)
{
	const char *v = getenv("VCPUSIM_CAPTURE_CLOCK");
	size_t n = strlen(w);
	for (const char *p = v; p && *p;) {
		size_t l = strcspn(p, ",");
		if (l == n && !strncmp(p, w, n))
			return 1;
		p += l + (p[l] == ',');
	}
	return 0;
}

static int tsc_usable(void)
{
#ifdef HAVE_RDTSC
	if (clock_word("monotonic"))
		return 0;
	static const char *const flags[] = { "constant_tsc", "nonstop_tsc", NULL };
	static const char *const src[] = { "tsc", NULL };
	return file_has("/proc/cpuinfo", flags) &&
	       file_has("/sys/devices/system/clocksource/clocksource0/current_clocksource", src);
#else
	return 0;
#endif
}

static struct tbuf *new_tbuf(void)
{
	struct tbuf *tb = calloc(1, sizeof *tb);
	if (!tb)
		return NULL;
	tb->first = tb->cur = calloc(1, sizeof *tb->first);
	if (!tb->first) {
		free(tb);
		return NULL;
	}
	int idx = atomic_fetch_add(&nthreads, 1);
	if (idx >= MAX_THREADS) {
		static atomic_int warned;
		if (!atomic_exchange(&warned, 1))
			fprintf(stderr, "vcpusim-capture: more than %d threads; later ones are "
				"not recorded\n", MAX_THREADS);
		free(tb->first);
		free(tb);
		return NULL;
	}
	atomic_store_explicit(&threads[idx], tb, memory_order_release);
	return tb;
}

static void put(struct tbuf *tb, uint32_t kind, uintptr_t arg, uint32_t cls)
{
	uint64_t t = stamp();
	uint64_t cpu = use_cpu ? thread_cpu_ns() : 0;
	struct chunk *c = tb->cur;
	uint32_t n = atomic_load_explicit(&c->n, memory_order_relaxed);
	if (n == CHUNK_EVENTS) {
		struct chunk *nc = calloc(1, sizeof *nc);
		if (!nc)
			return;   /* out of memory: drop the event (the exit handler repairs) */
		atomic_store_explicit(&c->next, nc, memory_order_release);
		tb->cur = c = nc;
		n = 0;
	}
	c->ev[n] = (struct raw){ t - base_stamp, cpu, arg, kind, cls };
	atomic_store_explicit(&c->n, n + 1, memory_order_release);
}

/* Records an event of the calling thread; registers the thread on first use. */
static void rec(uint32_t kind, uintptr_t arg, uint32_t cls)
{
	if (!active || in_hook || rt_depth || atomic_load_explicit(&stopping, memory_order_relaxed))
		return;
	in_hook++;
	if (kind != TEV_THREAD_END && kind != TEV_TLB_FLUSH &&
	    !atomic_load_explicit(&seen_runtime, memory_order_relaxed))
		atomic_store_explicit(&seen_runtime, 1, memory_order_relaxed);
	if (!me_tb) {
		me_tb = new_tbuf();
		if (me_tb)
			put(me_tb, TEV_THREAD_BEGIN, 0, 0);
	}
	if (me_tb)
		put(me_tb, kind, arg, cls);
	in_hook--;
}

static void *next_sym(const char *name)
{
	void *p = dlsym(RTLD_NEXT, name);
	if (!p) {
		fprintf(stderr, "vcpusim-capture: cannot find the real %s: %s\n", name, dlerror());
		abort();
	}
	return p;
}

/* The real function, looked up on first use; threads may race to look it up,
 * harmlessly (same value), so the cache is atomic. */
#define REAL(name) \
	static __typeof__(name) *_Atomic cache_##name; \
	__typeof__(name) *real_##name = atomic_load_explicit(&cache_##name, memory_order_relaxed); \
	if (!real_##name) { \
		*(void **)&real_##name = next_sym(#name); \
		atomic_store_explicit(&cache_##name, real_##name, memory_order_relaxed); \
	}

/* --------------------------------------------------------------- libgomp */

/* Prototypes of the libgomp ABI (libgomp/libgomp_g.h); omp.h is not needed. */
typedef void (*omp_fn)(void *);
EXPORT void GOMP_parallel(omp_fn fn, void *data, unsigned num_threads, unsigned flags);
EXPORT void GOMP_parallel_start(omp_fn fn, void *data, unsigned num_threads);
EXPORT void GOMP_parallel_end(void);
EXPORT void GOMP_parallel_loop_static(omp_fn, void *, unsigned, long, long, long, long, unsigned);
EXPORT void GOMP_parallel_loop_dynamic(omp_fn, void *, unsigned, long, long, long, long, unsigned);
EXPORT void GOMP_parallel_loop_guided(omp_fn, void *, unsigned, long, long, long, long, unsigned);
EXPORT void GOMP_parallel_loop_nonmonotonic_dynamic(omp_fn, void *, unsigned, long, long,
						    long, long, unsigned);
EXPORT void GOMP_parallel_loop_nonmonotonic_guided(omp_fn, void *, unsigned, long, long,
						   long, long, unsigned);
EXPORT void GOMP_parallel_loop_runtime(omp_fn, void *, unsigned, long, long, long, unsigned);
EXPORT void GOMP_parallel_loop_nonmonotonic_runtime(omp_fn, void *, unsigned, long, long,
						    long, unsigned);
EXPORT void GOMP_parallel_loop_maybe_nonmonotonic_runtime(omp_fn, void *, unsigned, long,
							  long, long, unsigned);
EXPORT void GOMP_parallel_sections(omp_fn fn, void *data, unsigned num_threads,
				   unsigned count, unsigned flags);
EXPORT void GOMP_barrier(void);
EXPORT bool GOMP_barrier_cancel(void);
EXPORT void GOMP_loop_end(void);
EXPORT bool GOMP_loop_end_cancel(void);
EXPORT void GOMP_sections_end(void);
EXPORT bool GOMP_sections_end_cancel(void);
EXPORT void GOMP_critical_start(void);
EXPORT void GOMP_critical_end(void);
EXPORT void GOMP_critical_name_start(void **pptr);
EXPORT void GOMP_critical_name_end(void **pptr);
EXPORT void GOMP_atomic_start(void);
EXPORT void GOMP_atomic_end(void);
EXPORT void omp_set_lock(void *lock);
EXPORT void omp_unset_lock(void *lock);

/* The team's view of a region: the real outlined function and its data. It lives
 * on the master's stack (GOMP_parallel*) or in pstack (GOMP_parallel_start) until
 * the end-of-region barrier, which every worker passes after its last use. */
struct region {
	omp_fn fn;
	void *data;
};

static int team_size_rt(void)
{
	static int (*_Atomic cache)(void);
	int (*num)(void) = atomic_load_explicit(&cache, memory_order_relaxed);
	if (!num) {
		*(void **)&num = dlsym(RTLD_DEFAULT, "omp_get_num_threads");
		atomic_store_explicit(&cache, num, memory_order_relaxed);
	}
	return num ? num() : 0;
}

/* The team size, asked of the runtime (its calls are not the program's). */
static int team_size(void)
{
	int n;
	rt_depth++;
	n = team_size_rt();
	rt_depth--;
	return n;
}

static void region_fn(void *p)
{
	struct region *r = p;
	omp_fn fn = r->fn;
	void *data = r->data;
	int saved = rt_depth;   /* the program's code runs here, inside the runtime */
	rt_depth = 0;
	if (active)
		rec(TEV_REGION_BEGIN, (uintptr_t)team_size(), 0);
	fn(data);
	rec(TEV_REGION_END, 0, 0);
	rt_depth = saved;
}

void GOMP_parallel(omp_fn fn, void *data, unsigned num_threads, unsigned flags)
{
	REAL(GOMP_parallel);
	struct region r = { fn, data };
	rec(TEV_FORK, 0, 0);
	rt_depth++;
	real_GOMP_parallel(region_fn, &r, num_threads, flags);
	rt_depth--;
	rec(TEV_JOIN, 0, 0);
}

#define PARALLEL_LOOP(name)                                                          \
	void name(omp_fn fn, void *data, unsigned n, long s, long e, long i, long c,     \
		  unsigned flags)                                                        \
	{                                                                                \
		REAL(name);                                                              \
		struct region r = { fn, data };                                          \
		rec(TEV_FORK, 0, 0);                                                     \
		rt_depth++;                                                              \
		real_##name(region_fn, &r, n, s, e, i, c, flags);                        \
		rt_depth--;                                                              \
		rec(TEV_JOIN, 0, 0);                                                     \
	}
PARALLEL_LOOP(GOMP_parallel_loop_static)
PARALLEL_LOOP(GOMP_parallel_loop_dynamic)
PARALLEL_LOOP(GOMP_parallel_loop_guided)
PARALLEL_LOOP(GOMP_parallel_loop_nonmonotonic_dynamic)
PARALLEL_LOOP(GOMP_parallel_loop_nonmonotonic_guided)

#define PARALLEL_LOOP_RT(name)                                                       \
	void name(omp_fn fn, void *data, unsigned n, long s, long e, long i,             \
		  unsigned flags)                                                        \
	{                                                                                \
		REAL(name);                                                              \
		struct region r = { fn, data };                                          \
		rec(TEV_FORK, 0, 0);                                                     \
		rt_depth++;                                                              \
		real_##name(region_fn, &r, n, s, e, i, flags);                           \
		rt_depth--;                                                              \
		rec(TEV_JOIN, 0, 0);                                                     \
	}
PARALLEL_LOOP_RT(GOMP_parallel_loop_runtime)
PARALLEL_LOOP_RT(GOMP_parallel_loop_nonmonotonic_runtime)
PARALLEL_LOOP_RT(GOMP_parallel_loop_maybe_nonmonotonic_runtime)

void GOMP_parallel_sections(omp_fn fn, void *data, unsigned num_threads, unsigned count,
			    unsigned flags)
{
	REAL(GOMP_parallel_sections);
	struct region r = { fn, data };
	rec(TEV_FORK, 0, 0);
	rt_depth++;
	real_GOMP_parallel_sections(region_fn, &r, num_threads, count, flags);
	rt_depth--;
	rec(TEV_JOIN, 0, 0);
}

/* GOMP_parallel_start / _end (GCC < 4.9 ABI): the master runs fn between them. */
#define PSTACK 8
static TLS struct region pstack[PSTACK];
static TLS int pdepth;

void GOMP_parallel_start(omp_fn fn, void *data, unsigned num_threads)
{
	REAL(GOMP_parallel_start);
	if (pdepth >= PSTACK) {   /* too deep: run unrecorded */
		pdepth++;
		rt_depth++;
		real_GOMP_parallel_start(fn, data, num_threads);
		rt_depth--;
		return;
	}
	struct region *r = &pstack[pdepth++];
	r->fn = fn;
	r->data = data;
	rec(TEV_FORK, 0, 0);
	rt_depth++;
	real_GOMP_parallel_start(region_fn, r, num_threads);
	rt_depth--;
	rec(TEV_REGION_BEGIN, (uintptr_t)team_size(), 0);
}

void GOMP_parallel_end(void)
{
	REAL(GOMP_parallel_end);
	int recorded = pdepth <= PSTACK;
	if (recorded)
		rec(TEV_REGION_END, 0, 0);
	rt_depth++;
	real_GOMP_parallel_end();
	rt_depth--;
	if (recorded)
		rec(TEV_JOIN, 0, 0);
	if (pdepth > 0)
		pdepth--;
}

#define BARRIER_VOID(name, cls)                                                      \
	void name(void)                                                                  \
	{                                                                                \
		REAL(name);                                                              \
		rec(TEV_BARRIER_ENTER, cls, 0);                                          \
		rt_depth++;                                                              \
		real_##name();                                                           \
		rt_depth--;                                                              \
		rec(TEV_BARRIER_EXIT, 0, 0);                                             \
	}
#define BARRIER_BOOL(name, cls)                                                      \
	bool name(void)                                                                  \
	{                                                                                \
		REAL(name);                                                              \
		rec(TEV_BARRIER_ENTER, cls, 0);                                          \
		rt_depth++;                                                              \
		bool r = real_##name();                                                  \
		rt_depth--;                                                              \
		rec(TEV_BARRIER_EXIT, 0, 0);                                             \
		return r;                                                                \
	}
BARRIER_VOID(GOMP_barrier, TBAR_EXPLICIT)
BARRIER_BOOL(GOMP_barrier_cancel, TBAR_EXPLICIT)
BARRIER_VOID(GOMP_loop_end, TBAR_WORKSHARE)
BARRIER_BOOL(GOMP_loop_end_cancel, TBAR_WORKSHARE)
BARRIER_VOID(GOMP_sections_end, TBAR_WORKSHARE)
BARRIER_BOOL(GOMP_sections_end_cancel, TBAR_WORKSHARE)

void GOMP_critical_start(void)
{
	REAL(GOMP_critical_start);
	rec(TEV_LOCK_REQ, 0, TLOCK_CRITICAL);
	rt_depth++;
	real_GOMP_critical_start();
	rt_depth--;
	rec(TEV_LOCK_ACQ, 0, TLOCK_CRITICAL);
}

void GOMP_critical_end(void)
{
	REAL(GOMP_critical_end);
	rt_depth++;
	real_GOMP_critical_end();
	rt_depth--;
	rec(TEV_LOCK_REL, 0, TLOCK_CRITICAL);
}

void GOMP_critical_name_start(void **pptr)
{
	REAL(GOMP_critical_name_start);
	rec(TEV_LOCK_REQ, (uintptr_t)pptr, TLOCK_CRITICAL_NAMED);
	rt_depth++;
	real_GOMP_critical_name_start(pptr);
	rt_depth--;
	rec(TEV_LOCK_ACQ, (uintptr_t)pptr, TLOCK_CRITICAL_NAMED);
}

void GOMP_critical_name_end(void **pptr)
{
	REAL(GOMP_critical_name_end);
	rt_depth++;
	real_GOMP_critical_name_end(pptr);
	rt_depth--;
	rec(TEV_LOCK_REL, (uintptr_t)pptr, TLOCK_CRITICAL_NAMED);
}

void GOMP_atomic_start(void)
{
	REAL(GOMP_atomic_start);
	rec(TEV_LOCK_REQ, 0, TLOCK_ATOMIC);
	rt_depth++;
	real_GOMP_atomic_start();
	rt_depth--;
	rec(TEV_LOCK_ACQ, 0, TLOCK_ATOMIC);
}

void GOMP_atomic_end(void)
{
	REAL(GOMP_atomic_end);
	rt_depth++;
	real_GOMP_atomic_end();
	rt_depth--;
	rec(TEV_LOCK_REL, 0, TLOCK_ATOMIC);
}

void omp_set_lock(void *lock)
{
	REAL(omp_set_lock);
	rec(TEV_LOCK_REQ, (uintptr_t)lock, TLOCK_OMP);
	rt_depth++;
	real_omp_set_lock(lock);
	rt_depth--;
	rec(TEV_LOCK_ACQ, (uintptr_t)lock, TLOCK_OMP);
}

void omp_unset_lock(void *lock)
{
	REAL(omp_unset_lock);
	rt_depth++;
	real_omp_unset_lock(lock);
	rt_depth--;
	rec(TEV_LOCK_REL, (uintptr_t)lock, TLOCK_OMP);
}

/* --------------------------------------------------------------- libomp */

/* LLVM's OpenMP runtime (libomp; Intel's libiomp5 is the same code and ABI), whose
 * entry points clang and Intel's compilers call (openmp/runtime/src/kmp.h and
 * kmp_csupport.cpp, LLVM 14): __kmpc_fork_call starts a region and runs the
 * outlined function ("microtask") on every thread of the team, the master
 * included, followed by the end-of-region join barrier inside the runtime (not an
 * entry point: recorded as region_end, as for libgomp). Worksharing loops and
 * single end with a separate __kmpc_barrier call unless nowait (clang's
 * CGOpenMPRuntime::emitBarrierCall), whose ident_t flags say whether it is an
 * explicit `omp barrier` (KMP_IDENT_BARRIER_EXPL) or the implicit barrier of a
 * worksharing construct (KMP_IDENT_BARRIER_IMPL_*): the former is recorded as an
 * explicit barrier, the latter as a worksharing end. Critical sections pass the
 * address of a per-name lock variable (kmp_critical_name), so the ABI does not tell
 * a named from an unnamed critical: each address is its own critical_named lock.
 * omp_set_lock/omp_unset_lock are the same names in both runtimes (above).
 * Not recorded: reductions (__kmpc_reduce*: whether they synchronise, by a lock or
 * a tree barrier, is the runtime's choice per team size, kmp_csupport.cpp
 * __kmp_determine_reduction_method), ordered, tasks, teams. */

/* ident_t (kmp.h): source location and flags of a call site. */
struct kmp_ident {
	int32_t reserved_1, flags, reserved_2, reserved_3;
	const char *psource;
};
#define KMP_IDENT_BARRIER_EXPL 0x20
typedef int32_t kmp_critical_name[8];
typedef void (*kmpc_micro)(int32_t *gtid, int32_t *btid, ...);

EXPORT void __kmpc_fork_call(struct kmp_ident *loc, int32_t argc, kmpc_micro fn, ...);
EXPORT void __kmpc_barrier(struct kmp_ident *loc, int32_t gtid);
EXPORT int32_t __kmpc_cancel_barrier(struct kmp_ident *loc, int32_t gtid);
EXPORT void __kmpc_critical(struct kmp_ident *loc, int32_t gtid, kmp_critical_name *crit);
EXPORT void __kmpc_critical_with_hint(struct kmp_ident *loc, int32_t gtid,
				      kmp_critical_name *crit, uint32_t hint);
EXPORT void __kmpc_end_critical(struct kmp_ident *loc, int32_t gtid, kmp_critical_name *crit);

/* The outlined function takes the two thread-id pointers and then one pointer per
 * shared variable (argc of them). The wrapper is passed to the runtime with one
 * argument, this record, and calls the program's function with its own arguments:
 * with exactly argc of them up to KMP_EXACT_ARGS (libomp's portable
 * __kmp_invoke_microtask, z_Linux_util.cpp, likewise calls with exactly argc up to
 * 15), beyond that with KMP_MAX_ARGS, the extra ones ignored by the callee, as the
 * x86-64 System V and AArch64 calling conventions allow (the caller owns the
 * argument area; libomp's assembly invoker relies on the same). */
#define KMP_EXACT_ARGS 16
#define KMP_MAX_ARGS 64
struct kmp_region {
	kmpc_micro fn;
	int32_t argc;
	void *a[KMP_MAX_ARGS];
};

static void kmp_invoke(const struct kmp_region *r, int32_t *g, int32_t *b)
{
	void *const *a = r->a;
	kmpc_micro f = r->fn;
	switch (r->argc) {
	case 0: f(g, b); break;
	case 1: f(g, b, a[0]); break;
	case 2: f(g, b, a[0], a[1]); break;
	case 3: f(g, b, a[0], a[1], a[2]); break;
	case 4: f(g, b, a[0], a[1], a[2], a[3]); break;
	case 5: f(g, b, a[0], a[1], a[2], a[3], a[4]); break;
	case 6: f(g, b, a[0], a[1], a[2], a[3], a[4], a[5]); break;
	case 7: f(g, b, a[0], a[1], a[2], a[3], a[4], a[5], a[6]); break;
	case 8: f(g, b, a[0], a[1], a[2], a[3], a[4], a[5], a[6], a[7]); break;
	case 9: f(g, b, a[0], a[1], a[2], a[3], a[4], a[5], a[6], a[7], a[8]); break;
	case 10: f(g, b, a[0], a[1], a[2], a[3], a[4], a[5], a[6], a[7], a[8], a[9]); break;
	case 11: f(g, b, a[0], a[1], a[2], a[3], a[4], a[5], a[6], a[7], a[8], a[9], a[10]); break;
	case 12: f(g, b, a[0], a[1], a[2], a[3], a[4], a[5], a[6], a[7], a[8], a[9], a[10],
		   a[11]); break;
	case 13: f(g, b, a[0], a[1], a[2], a[3], a[4], a[5], a[6], a[7], a[8], a[9], a[10],
		   a[11], a[12]); break;
	case 14: f(g, b, a[0], a[1], a[2], a[3], a[4], a[5], a[6], a[7], a[8], a[9], a[10],
		   a[11], a[12], a[13]); break;
	case 15: f(g, b, a[0], a[1], a[2], a[3], a[4], a[5], a[6], a[7], a[8], a[9], a[10],
		   a[11], a[12], a[13], a[14]); break;
	case 16: f(g, b, a[0], a[1], a[2], a[3], a[4], a[5], a[6], a[7], a[8], a[9], a[10],
		   a[11], a[12], a[13], a[14], a[15]); break;
	default:
#define A8(k) a[k], a[k + 1], a[k + 2], a[k + 3], a[k + 4], a[k + 5], a[k + 6], a[k + 7]
		f(g, b, A8(0), A8(8), A8(16), A8(24), A8(32), A8(40), A8(48), A8(56));
#undef A8
		break;
	}
}

static void kmp_region_fn(int32_t *gtid, int32_t *btid, void *p)
{
	const struct kmp_region *r = p;
	int saved = rt_depth;   /* the program's code runs here, inside the runtime */
	rt_depth = 0;
	if (active)
		rec(TEV_REGION_BEGIN, (uintptr_t)team_size(), 0);
	kmp_invoke(r, gtid, btid);
	rec(TEV_REGION_END, 0, 0);
	rt_depth = saved;
}

void __kmpc_fork_call(struct kmp_ident *loc, int32_t argc, kmpc_micro fn, ...)
{
	REAL(__kmpc_fork_call);
	if (argc < 0 || argc > KMP_MAX_ARGS) {
		fprintf(stderr, "vcpusim-capture: a parallel region passes %d shared variables, "
			"more than the %d the capture library can forward\n", (int)argc, KMP_MAX_ARGS);
		abort();
	}
	struct kmp_region r = { .fn = fn, .argc = argc };
	va_list ap;
	va_start(ap, fn);
	for (int32_t i = 0; i < argc; i++)
		r.a[i] = va_arg(ap, void *);
	va_end(ap);
	rec(TEV_FORK, 0, 0);
	rt_depth++;
	real___kmpc_fork_call(loc, 1, (kmpc_micro)(void (*)(void))kmp_region_fn, &r);
	rt_depth--;
	rec(TEV_JOIN, 0, 0);
}

static uint32_t kmp_barrier_class(const struct kmp_ident *loc)
{
	return !loc || (loc->flags & KMP_IDENT_BARRIER_EXPL) ? TBAR_EXPLICIT : TBAR_WORKSHARE;
}

void __kmpc_barrier(struct kmp_ident *loc, int32_t gtid)
{
	REAL(__kmpc_barrier);
	rec(TEV_BARRIER_ENTER, kmp_barrier_class(loc), 0);
	rt_depth++;
	real___kmpc_barrier(loc, gtid);
	rt_depth--;
	rec(TEV_BARRIER_EXIT, 0, 0);
}

int32_t __kmpc_cancel_barrier(struct kmp_ident *loc, int32_t gtid)
{
	REAL(__kmpc_cancel_barrier);
	rec(TEV_BARRIER_ENTER, kmp_barrier_class(loc), 0);
	rt_depth++;
	int32_t r = real___kmpc_cancel_barrier(loc, gtid);
	rt_depth--;
	rec(TEV_BARRIER_EXIT, 0, 0);
	return r;
}

void __kmpc_critical(struct kmp_ident *loc, int32_t gtid, kmp_critical_name *crit)
{
	REAL(__kmpc_critical);
	rec(TEV_LOCK_REQ, (uintptr_t)crit, TLOCK_CRITICAL_NAMED);
	rt_depth++;
	real___kmpc_critical(loc, gtid, crit);
	rt_depth--;
	rec(TEV_LOCK_ACQ, (uintptr_t)crit, TLOCK_CRITICAL_NAMED);
}

void __kmpc_critical_with_hint(struct kmp_ident *loc, int32_t gtid, kmp_critical_name *crit,
			       uint32_t hint)
{
	REAL(__kmpc_critical_with_hint);
	rec(TEV_LOCK_REQ, (uintptr_t)crit, TLOCK_CRITICAL_NAMED);
	rt_depth++;
	real___kmpc_critical_with_hint(loc, gtid, crit, hint);
	rt_depth--;
	rec(TEV_LOCK_ACQ, (uintptr_t)crit, TLOCK_CRITICAL_NAMED);
}

void __kmpc_end_critical(struct kmp_ident *loc, int32_t gtid, kmp_critical_name *crit)
{
	REAL(__kmpc_end_critical);
	rt_depth++;
	real___kmpc_end_critical(loc, gtid, crit);
	rt_depth--;
	rec(TEV_LOCK_REL, (uintptr_t)crit, TLOCK_CRITICAL_NAMED);
}

/* --------------------------------------------------------------- pthreads */

/* The OpenMP runtimes' own code (their text segments, found at start-up): pthread
 * calls made from there are the runtime's (libomp's lazy initialisation on the
 * first omp_* call takes pthread mutexes, and its idle workers sleep with them,
 * z_Linux_util.cpp), not the program's synchronisation, and are not recorded. */
#define MAX_RT_RANGES 16
static struct { uintptr_t lo, hi; } rt_ranges[MAX_RT_RANGES];
static int n_rt_ranges;

static int rt_object(struct dl_phdr_info *info, size_t size, void *data)
{
	static const char *const names[] = { "/libgomp.so", "/libomp.so", "/libiomp5.so", NULL };
	const char *n = info->dlpi_name;
	int match = 0;
	for (int i = 0; n && names[i] && !match; i++)
		match = strstr(n, names[i]) != NULL;
	for (int i = 0; match && i < info->dlpi_phnum && n_rt_ranges < MAX_RT_RANGES; i++) {
		const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
		if (ph->p_type == PT_LOAD && (ph->p_flags & PF_X)) {
			rt_ranges[n_rt_ranges].lo = info->dlpi_addr + ph->p_vaddr;
			rt_ranges[n_rt_ranges].hi = info->dlpi_addr + ph->p_vaddr + ph->p_memsz;
			n_rt_ranges++;
		}
	}
	return 0;
}

static int from_runtime(const void *ra)
{
	uintptr_t a = (uintptr_t)ra;
	for (int i = 0; i < n_rt_ranges; i++)
		if (a >= rt_ranges[i].lo && a < rt_ranges[i].hi)
			return 1;
	return 0;
}

/* A call from a runtime: straight to the real function. */
#define RUNTIME_CALL(name, ...) \
	if (from_runtime(__builtin_return_address(0))) \
		return real_##name(__VA_ARGS__)

EXPORT int pthread_mutex_lock(pthread_mutex_t *m)
{
	REAL(pthread_mutex_lock);
	RUNTIME_CALL(pthread_mutex_lock, m);
	rec(TEV_LOCK_REQ, (uintptr_t)m, TLOCK_MUTEX);
	rt_depth++;
	int r = real_pthread_mutex_lock(m);
	rt_depth--;
	rec(r ? RAW_CANCEL : TEV_LOCK_ACQ, (uintptr_t)m, TLOCK_MUTEX);
	return r;
}

EXPORT int pthread_mutex_unlock(pthread_mutex_t *m)
{
	REAL(pthread_mutex_unlock);
	RUNTIME_CALL(pthread_mutex_unlock, m);
	rt_depth++;
	int r = real_pthread_mutex_unlock(m);
	rt_depth--;
	rec(TEV_LOCK_REL, (uintptr_t)m, TLOCK_MUTEX);
	return r;
}

EXPORT int pthread_spin_lock(pthread_spinlock_t *l)
{
	REAL(pthread_spin_lock);
	RUNTIME_CALL(pthread_spin_lock, l);
	rec(TEV_LOCK_REQ, (uintptr_t)l, TLOCK_SPIN);
	rt_depth++;
	int r = real_pthread_spin_lock(l);
	rt_depth--;
	rec(r ? RAW_CANCEL : TEV_LOCK_ACQ, (uintptr_t)l, TLOCK_SPIN);
	return r;
}

EXPORT int pthread_spin_unlock(pthread_spinlock_t *l)
{
	REAL(pthread_spin_unlock);
	RUNTIME_CALL(pthread_spin_unlock, l);
	rt_depth++;
	int r = real_pthread_spin_unlock(l);
	rt_depth--;
	rec(TEV_LOCK_REL, (uintptr_t)l, TLOCK_SPIN);
	return r;
}

EXPORT int pthread_barrier_wait(pthread_barrier_t *b)
{
	REAL(pthread_barrier_wait);
	RUNTIME_CALL(pthread_barrier_wait, b);
	rec(TEV_BARRIER_ENTER, TBAR_PTHREAD, 0);
	rt_depth++;
	int r = real_pthread_barrier_wait(b);
	rt_depth--;
	rec(TEV_BARRIER_EXIT, 0, 0);
	return r;
}

/* ------------------------------------------------------- memory-map calls
 *
 * Calls after which Linux may shoot down the TLBs of the other CPUs running the
 * process (arch/x86/mm/tlb.c flush_tlb_mm_range: only CPUs in the mm's cpumask that
 * are not in lazy TLB mode, native_flush_tlb_multi; and only if page-table entries
 * were present and changed: mm/mmu_gather.c tlb_flush_mmu_tlbonly returns early on
 * an empty range, mm/mprotect.c flushes only when pages changed). So an event is at
 * most one shootdown, stamped at the call's return, with the call and its length in
 * pages (traces/FORMAT.md, tlb_flush). Only calls that succeed are recorded, and
 * madvise only with MADV_DONTNEED (zap_page_range). Not seen: glibc's own calls
 * (malloc's trimming and its large frees, thread stacks) go through glibc-internal
 * symbols that no preloaded library can interpose. */
static uint32_t flush_arg(size_t len, uint32_t call)
{
	uint64_t pages = ((uint64_t)len + 4095) / 4096;
	if (pages > TFLUSH_MAX_PAGES)
		pages = TFLUSH_MAX_PAGES;
	return (uint32_t)(pages << 2) | call;
}

EXPORT int munmap(void *addr, size_t len)
{
	REAL(munmap);
	int r = real_munmap(addr, len);
	if (r == 0)
		rec(TEV_TLB_FLUSH, flush_arg(len, TFLUSH_MUNMAP), 0);
	return r;
}

EXPORT int mprotect(void *addr, size_t len, int prot)
{
	REAL(mprotect);
	int r = real_mprotect(addr, len, prot);
	if (r == 0)
		rec(TEV_TLB_FLUSH, flush_arg(len, TFLUSH_MPROTECT), 0);
	return r;
}

EXPORT int madvise(void *addr, size_t len, int advice)
{
	REAL(madvise);
	int r = real_madvise(addr, len, advice);
	if (r == 0 && advice == MADV_DONTNEED)
		rec(TEV_TLB_FLUSH, flush_arg(len, TFLUSH_MADVISE), 0);
	return r;
}

EXPORT void *mremap(void *old, size_t old_len, size_t new_len, int flags, ...)
{
	REAL(mremap);
	void *naddr = NULL;
	if (flags & MREMAP_FIXED) {   /* the fifth argument exists only then */
		va_list ap;
		va_start(ap, flags);
		naddr = va_arg(ap, void *);
		va_end(ap);
	}
	void *r = flags & MREMAP_FIXED ? real_mremap(old, old_len, new_len, flags, naddr)
				       : real_mremap(old, old_len, new_len, flags);
	/* a move or a shrink unmaps old page-table entries; growing in place does not */
	if (r != MAP_FAILED && (r != old || new_len < old_len))
		rec(TEV_TLB_FLUSH, flush_arg(old_len, TFLUSH_MREMAP), 0);
	return r;
}

/* Threads are registered by their creator, so their order in the trace is the
 * creation order (deterministic), not the order in which they first run. */
struct start {
	void *(*fn)(void *);
	void *arg;
	struct tbuf *tb;
	int runtime;   /* created by an OpenMP runtime inside a wrapped call: a worker */
};

static void *start_thread(void *p)
{
	struct start s = *(struct start *)p;
	free(p);
	me_tb = s.tb;
	if (me_tb && active && !in_hook && !atomic_load(&stopping)) {
		in_hook++;
		put(me_tb, TEV_THREAD_BEGIN, 0, 0);
		in_hook--;
	}
	/* A runtime's worker runs the runtime's code (its idle loop, where libomp
	 * sleeps with pthread mutexes and condition variables: kmp_wait_release.h,
	 * z_Linux_util.cpp) except inside the region functions, which reset this. */
	rt_depth = s.runtime;
	void *r = s.fn(s.arg);
	rt_depth = 0;
	rec(TEV_THREAD_END, 0, 0);
	return r;
}

EXPORT int pthread_create(pthread_t *th, const pthread_attr_t *attr, void *(*fn)(void *), void *arg)
{
	REAL(pthread_create);
	if (!active || in_hook || atomic_load(&stopping))
		return real_pthread_create(th, attr, fn, arg);
	in_hook++;
	struct start *s = malloc(sizeof *s);
	struct tbuf *tb = s ? new_tbuf() : NULL;
	if (me_tb)
		atomic_fetch_add(&me_tb->created, 1);
	in_hook--;
	if (!s)
		return real_pthread_create(th, attr, fn, arg);
	*s = (struct start){ fn, arg, tb,
			     rt_depth > 0 || from_runtime(__builtin_return_address(0)) };
	int r = real_pthread_create(th, attr, start_thread, s);
	if (r)
		free(s);   /* its tbuf stays registered, empty, and is skipped at exit */
	return r;
}

/* -------------------------------------------------------- start and exit */

__attribute__((constructor)) static void capture_init(void)
{
	const char *out = getenv("VCPUSIM_TRACE_OUT");
	const char *pid = getenv("VCPUSIM_TRACE_PID");
	if (!out || !*out)
		return;
	/* Only the process that `vcpusim capture` started records; children it runs
	 * inherit LD_PRELOAD but stay silent. */
	if (pid && *pid && strtol(pid, NULL, 10) != (long)getpid())
		return;
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	base_unix_ns = (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
	use_tsc = tsc_usable();
	use_cpu = clock_word("cpu");
	base_ns = now_ns();
	base_stamp = stamp();
	owner = getpid();
	dl_iterate_phdr(rt_object, NULL);
	active = 1;
	me_tb = new_tbuf();   /* the main thread is thread 0 */
	if (me_tb)
		put(me_tb, TEV_THREAD_BEGIN, 0, 0);
}

/* Lock identity: (class, address) -> index in order of first use. */
struct lkey {
	uint32_t cls;
	uintptr_t addr;
	int id;
};
struct ltab {
	struct lkey *k;
	size_t cap, n;
	uint32_t per_class[TLOCK_CLASSES];
};

static int lock_id(struct ltab *lt, struct trace *t, uint32_t cls, uintptr_t addr)
{
	if (lt->n * 2 >= lt->cap) {
		size_t cap = lt->cap ? lt->cap * 2 : 64;
		struct lkey *k = calloc(cap, sizeof *k);
		if (!k)
			return -1;
		for (size_t i = 0; i < lt->cap; i++)
			if (lt->k[i].id) {
				size_t h = (lt->k[i].addr * 0x9E3779B97F4A7C15u + lt->k[i].cls) & (cap - 1);
				while (k[h].id)
					h = (h + 1) & (cap - 1);
				k[h] = lt->k[i];
			}
		free(lt->k);
		lt->k = k;
		lt->cap = cap;
	}
	size_t h = (addr * 0x9E3779B97F4A7C15u + cls) & (lt->cap - 1);
	while (lt->k[h].id) {
		if (lt->k[h].cls == cls && lt->k[h].addr == addr)
			return lt->k[h].id - 1;
		h = (h + 1) & (lt->cap - 1);
	}
	char name[64];
	if (cls == TLOCK_CRITICAL || cls == TLOCK_ATOMIC)
		snprintf(name, sizeof name, "%s", tlock_class_names[cls]);
	else
		snprintf(name, sizeof name, "%s#%u", tlock_class_names[cls], lt->per_class[cls]);
	lt->per_class[cls]++;
	int id = trace_add_lock(t, cls, name);
	if (id < 0)
		return -1;
	lt->k[h] = (struct lkey){ cls, addr, id + 1 };
	lt->n++;
	return id;
}

/* Per-thread repair while converting: the raw stream may end in the middle of a
 * call (exit from inside a region, a thread still blocked), may release a lock
 * taken before recording began, and may re-lock a recursive mutex. The output
 * obeys FORMAT.md's rules (trace_validate). */
struct conv {
	struct trace_thread *th;
	struct { uint32_t id; int count; } held[TRACE_MAX_LOCK_DEPTH];
	int nheld, depth;
	int pending;            /* index in th of an unanswered REQ/ENTER/FORK, or -1 */
	int skip_acq;           /* the REQ was a recursive re-lock: skip its ACQ */
	int forced;
	/* CPU-time mode: the wall-clock stamp of each emitted event (wv[k] for
	 * th->ev[k]), for retime(); wv_failed after an allocation failure. */
	int track_wall, wv_failed;
	uint64_t cur_w, *wv;
	size_t wcap;
};

static void emit(struct conv *c, uint64_t t, uint32_t kind, uint32_t arg)
{
	if (c->th->n && c->th->ev[c->th->n - 1].t > t)
		t = c->th->ev[c->th->n - 1].t;
	if (c->track_wall && !c->wv_failed) {
		if (c->th->n >= c->wcap) {
			size_t cap = c->wcap ? c->wcap * 2 : 64;
			uint64_t *w = realloc(c->wv, cap * sizeof *w);
			if (!w)
				c->wv_failed = 1;
			else {
				c->wv = w;
				c->wcap = cap;
			}
		}
		if (!c->wv_failed)
			c->wv[c->th->n] = c->cur_w;
	}
	trace_push(c->th, t, kind, arg);
}

static void drop_pending(struct conv *c)
{
	if (c->pending >= 0 && (size_t)c->pending == c->th->n - 1)
		c->th->n--;
	c->pending = -1;
}

static void release_all(struct conv *c, uint64_t t)
{
	for (int h = c->nheld - 1; h >= 0; h--) {
		emit(c, t, TEV_LOCK_REL, c->held[h].id);
		c->forced++;
	}
	c->nheld = 0;
}

static void convert_event(struct conv *c, const struct raw *r, int id)
{
	uint32_t k = r->kind;
	/* a thread waiting in a lock, barrier or fork makes no calls: not recorded */
	if (k == TEV_TLB_FLUSH && (c->pending >= 0 || c->skip_acq))
		return;
	/* An unanswered request, barrier entry or fork is dropped unless this event
	 * answers it. */
	if (c->pending >= 0) {
		uint32_t pk = c->th->ev[c->pending].kind;
		int answers = (pk == TEV_LOCK_REQ && k == TEV_LOCK_ACQ) ||
			      (pk == TEV_BARRIER_ENTER && k == TEV_BARRIER_EXIT) ||
			      (pk == TEV_FORK && k == TEV_REGION_BEGIN);
		if (!answers)
			drop_pending(c);
	}
	int h;
	switch (k) {
	case TEV_THREAD_BEGIN:
		if (c->th->n == 0)
			emit(c, r->t, k, 0);
		return;
	case TEV_LOCK_REQ:
		for (h = 0; h < c->nheld; h++)
			if (c->held[h].id == (uint32_t)id)
				break;
		if (h < c->nheld) {        /* recursive re-lock */
			c->held[h].count++;
			c->skip_acq = 1;
			return;
		}
		if (c->nheld == TRACE_MAX_LOCK_DEPTH) {
			c->skip_acq = 2;   /* too deep: not recorded */
			return;
		}
		c->skip_acq = 0;
		emit(c, r->t, k, (uint32_t)id);
		c->pending = (int)c->th->n - 1;
		return;
	case TEV_LOCK_ACQ:
		if (c->skip_acq) {
			c->skip_acq = 0;
			return;
		}
		if (c->pending < 0 && !(c->th->n && c->th->ev[c->th->n - 1].kind == TEV_LOCK_REQ))
			return;
		c->pending = -1;
		emit(c, r->t, k, (uint32_t)id);
		c->held[c->nheld].id = (uint32_t)id;
		c->held[c->nheld++].count = 1;
		return;
	case RAW_CANCEL:
		if (c->skip_acq == 1) {    /* failed recursive re-lock */
			for (h = 0; h < c->nheld; h++)
				if (c->held[h].id == (uint32_t)id)
					c->held[h].count--;
		}
		c->skip_acq = 0;
		return;
	case TEV_LOCK_REL:
		for (h = 0; h < c->nheld; h++)
			if (c->held[h].id == (uint32_t)id)
				break;
		if (h == c->nheld)
			return;            /* not held by this thread as recorded */
		if (--c->held[h].count > 0)
			return;
		emit(c, r->t, k, (uint32_t)id);
		memmove(&c->held[h], &c->held[h + 1], (size_t)(c->nheld - h - 1) * sizeof c->held[0]);
		c->nheld--;
		return;
	case TEV_FORK:
	case TEV_BARRIER_ENTER:
		release_all(c, r->t);
		emit(c, r->t, k, k == TEV_BARRIER_ENTER ? (uint32_t)r->arg : 0);
		c->pending = (int)c->th->n - 1;
		return;
	case TEV_BARRIER_EXIT:
		if (c->th->n && c->th->ev[c->th->n - 1].kind == TEV_BARRIER_ENTER) {
			c->pending = -1;
			emit(c, r->t, k, 0);
		}
		return;
	case TEV_REGION_BEGIN:
		release_all(c, r->t);
		c->pending = -1;
		c->depth++;
		emit(c, r->t, k, (uint32_t)r->arg);
		return;
	case TEV_REGION_END:
		release_all(c, r->t);
		if (c->depth == 0)
			return;
		c->depth--;
		emit(c, r->t, k, 0);
		return;
	case TEV_JOIN:
		emit(c, r->t, k, 0);
		return;
	case TEV_TLB_FLUSH:
		emit(c, r->t, k, (uint32_t)r->arg);
		return;
	default:   /* THREAD_END is added by the caller */
		return;
	}
}

static int is_sync(uint32_t kind)
{
	return kind != TEV_THREAD_BEGIN && kind != TEV_THREAD_END && kind != TEV_TLB_FLUSH;
}

static char *read_cmdline(void)
{
	FILE *f = fopen("/proc/self/cmdline", "rb");
	if (!f)
		return NULL;
	char buf[TRACE_MAX_STRING];
	size_t n = fread(buf, 1, sizeof buf - 1, f);
	fclose(f);
	for (size_t i = 0; i + 1 < n; i++)
		if (!buf[i])
			buf[i] = ' ';
	buf[n] = 0;
	return strdup(buf);
}

static void host_string(char *out, size_t n)
{
	struct utsname u;
	char model[128] = "unknown CPU";
	FILE *f = fopen("/proc/cpuinfo", "r");
	if (f) {
		char line[256];
		while (fgets(line, sizeof line, f))
			if (!strncmp(line, "model name", 10)) {
				char *p = strchr(line, ':');
				if (p) {
					p += 1 + (p[1] == ' ');
					p[strcspn(p, "\n")] = 0;
					snprintf(model, sizeof model, "%s", p);
				}
				break;
			}
		fclose(f);
	}
	if (uname(&u) == 0)
		snprintf(out, n, "%s (%s %s, %s, %ld CPUs)", u.nodename, u.sysname, u.release,
			 model, sysconf(_SC_NPROCESSORS_ONLN));
	else
		snprintf(out, n, "unknown host");
}

/* A recorded stamp (relative to base_stamp) in ns since the start, within
 * [0, end]: a TSC read on another CPU may lag the base by a few ticks. */
static uint64_t to_trace_ns(uint64_t rel, double to_ns, uint64_t end)
{
	int64_t d = (int64_t)rel;
	if (d <= 0)
		return 0;
	double ns = (double)d * to_ns;
	return ns >= (double)end ? end : (uint64_t)ns;
}

/* CPU-time mode, after conversion: one timeline for all threads. Each thread's
 * stamps so far are wall-clock minus its own descheduled time, so a release by one
 * thread and the end of a wait in another may appear in the wrong order. Walking
 * all events in wall-clock order, a busy interval keeps its (CPU-time) length and
 * a wait (after fork, region_end, barrier_enter or lock_request) ends at the
 * latest of its own start and every release (fork, region_end, barrier_enter,
 * lock_release, thread_end) recorded before it in wall-clock time, in any thread:
 * the shortest wait that keeps every recorded release-before-wait-end order, as on
 * dedicated cores. By induction every new stamp is at most the event's wall-clock
 * time, so stamps stay within the duration; within a thread they never decrease. */
static int wall_before(uint64_t *const *wv, const size_t *pos, int a, int b)
{
	uint64_t x = wv[a][pos[a]], y = wv[b][pos[b]];
	return x < y || (x == y && a < b);
}

static int retime(struct trace *t, uint64_t *const *wv)
{
	int nt = t->nthreads;
	size_t *pos = calloc((size_t)nt, sizeof *pos);
	uint64_t *pv = calloc((size_t)nt, sizeof *pv), *pu = calloc((size_t)nt, sizeof *pu);
	int *heap = calloc((size_t)nt, sizeof *heap), hn = 0;
	if (!pos || !pv || !pu || !heap) {
		free(pos);
		free(pv);
		free(pu);
		free(heap);
		return -1;
	}
	for (int i = 0; i < nt; i++) {
		if (!t->threads[i].n)
			continue;
		int j = hn++;   /* sift up */
		while (j > 0 && wall_before(wv, pos, i, heap[(j - 1) / 2])) {
			heap[j] = heap[(j - 1) / 2];
			j = (j - 1) / 2;
		}
		heap[j] = i;
	}
	uint64_t rel = 0;   /* latest stamp of a release so far */
	while (hn) {
		int i = heap[0];
		struct trace_thread *th = &t->threads[i];
		size_t k = pos[i];
		uint64_t v = th->ev[k].t, u;
		if (k == 0)
			u = rel < wv[i][0] ? rel : wv[i][0];
		else {
			uint32_t pk = th->ev[k - 1].kind;
			int wait = pk == TEV_FORK || pk == TEV_REGION_END || pk == TEV_BARRIER_ENTER ||
				   pk == TEV_LOCK_REQ;
			u = wait ? (pu[i] > rel ? pu[i] : rel) : pu[i] + (v - pv[i]);
		}
		pv[i] = v;
		pu[i] = u;
		th->ev[k].t = u;
		uint32_t kd = th->ev[k].kind;
		if ((kd == TEV_FORK || kd == TEV_REGION_END || kd == TEV_BARRIER_ENTER ||
		     kd == TEV_LOCK_REL || kd == TEV_THREAD_END) && u > rel)
			rel = u;
		/* next event of thread i, or remove it; sift down */
		int top;
		if (++pos[i] < th->n)
			top = i;
		else
			top = heap[--hn];
		int j = 0;
		for (;;) {
			int l = 2 * j + 1, m = j;
			int best = top;
			if (l < hn && wall_before(wv, pos, heap[l], best))
				best = heap[l], m = l;
			if (l + 1 < hn && wall_before(wv, pos, heap[l + 1], best))
				best = heap[l + 1], m = l + 1;
			if (m == j)
				break;
			heap[j] = heap[m];
			j = m;
		}
		if (hn)
			heap[j] = top;
	}
	free(pos);
	free(pv);
	free(pu);
	free(heap);
	return 0;
}

__attribute__((destructor)) static void capture_fini(void)
{
	/* A child made by fork() without exec inherits the buffers: only the
	 * recording process writes the trace. */
	if (!active || getpid() != owner || atomic_exchange(&stopping, 1))
		return;
	uint64_t end = now_ns() - base_ns;
	/* Recording unit -> ns: the TSC's rate over this very run. */
	double to_ns = 1.0;
	if (use_tsc) {
		uint64_t ticks = stamp() - base_stamp;
		to_ns = ticks ? (double)end / (double)ticks : 1.0;
	}
	/* CPU-time mode: the exiting thread's last busy interval ends here, with its
	 * CPU time (other threads still running at exit end at their last event). */
	if (use_cpu && me_tb && !in_hook)
		put(me_tb, TEV_THREAD_END, 0, 0);
	uint64_t dropped_ns = 0;   /* descheduled time removed (CPU-time mode) */
	in_hook++;
	struct trace *t = trace_new();
	struct ltab lt = { 0 };
	int n = atomic_load(&nthreads);
	if (n > MAX_THREADS)
		n = MAX_THREADS;
	int ok = t != NULL, forced = 0;
	uint64_t **wvs = use_cpu ? calloc((size_t)n + 1, sizeof *wvs) : NULL;
	int retime_ok = wvs != NULL;
	for (int i = 0; i < n && ok; i++) {
		struct tbuf *tb = atomic_load_explicit(&threads[i], memory_order_acquire);
		if (!tb)
			continue;
		int idx = trace_add_thread(t);
		if (idx < 0) {
			ok = 0;
			break;
		}
		struct conv c = { .th = &t->threads[idx], .pending = -1, .track_wall = retime_ok };
		int ended = 0;
		uint64_t end_t = 0;
		/* CPU-time mode: wall stamp and CPU time of the previous raw event, whether
		 * the interval since it is busy, and the descheduled time removed so far. */
		uint64_t pw = 0, pc = 0, lost = 0;
		int pbusy = -1;
		for (struct chunk *ch = tb->first; ch;
		     ch = atomic_load_explicit(&ch->next, memory_order_acquire)) {
			uint32_t m = atomic_load_explicit(&ch->n, memory_order_acquire);
			for (uint32_t k = 0; k < m && !ended; k++) {
				struct raw rc = ch->ev[k];
				const struct raw *r = &rc;
				rc.t = to_trace_ns(rc.t, to_ns, end);
				if (use_cpu) {
					uint64_t w = rc.t > pw ? rc.t : pw;
					if (pbusy == 1) {
						uint64_t dw = w - pw;
						uint64_t dc = rc.cpu > pc ? rc.cpu - pc : 0;
						if (dw > dc)
							lost += dw - dc;
					}
					pbusy = rc.kind == TEV_THREAD_BEGIN || rc.kind == TEV_JOIN ||
						rc.kind == TEV_REGION_BEGIN || rc.kind == TEV_BARRIER_EXIT ||
						rc.kind == TEV_LOCK_ACQ || rc.kind == TEV_LOCK_REL ||
						rc.kind == RAW_CANCEL || rc.kind == TEV_TLB_FLUSH;
					pw = w;
					pc = rc.cpu;
					rc.t = w - lost;
					c.cur_w = w;
				}
				if (r->kind == TEV_THREAD_END) {
					ended = 1;
					end_t = r->t;
					break;
				}
				int id = 0;
				if (r->kind == TEV_LOCK_REQ || r->kind == TEV_LOCK_ACQ ||
				    r->kind == TEV_LOCK_REL || r->kind == RAW_CANCEL)
					if ((id = lock_id(&lt, t, r->cls, r->arg)) < 0)
						ok = 0;
				convert_event(&c, r, id);
			}
		}
		struct trace_thread *th = c.th;
		if (th->n == 0) {          /* never ran: not a thread of the trace */
			free(th->ev);
			free(c.wv);
			t->nthreads--;
			continue;
		}
		uint64_t last = th->ev[th->n - 1].t;
		/* the main thread runs until exit; others until they return or their last event */
		uint64_t tend = ended && end_t > last ? end_t : last;
		if (i == 0 && !ended)   /* the main thread runs until exit */
			tend = end - lost > last ? end - lost : last;
		else if (i == 0 && !use_cpu)
			tend = end;
		if (i == 0 && !ended)
			c.cur_w = end;   /* else the wall-clock time of its end or last event */
		dropped_ns += lost;
		drop_pending(&c);
		release_all(&c, tend);
		while (c.depth > 0) {
			emit(&c, tend, TEV_REGION_END, 0);
			c.depth--;
		}
		emit(&c, tend, TEV_THREAD_END, 0);
		forced += c.forced;
		/* A thread without any synchronisation that started others (a main thread
		 * that only creates and joins pthreads) spent its time waiting in join:
		 * it is not part of the parallel program. */
		int sync = 0;
		for (size_t k = 0; k < th->n && !sync; k++)
			sync = is_sync(th->ev[k].kind);
		if (!sync && atomic_load(&tb->created) > 0) {
			free(th->ev);
			free(c.wv);
			t->nthreads--;
		} else if (retime_ok) {
			wvs[idx] = c.wv;
			retime_ok = !c.wv_failed;
		} else
			free(c.wv);
	}
	if (ok && use_cpu && !(retime_ok && retime(t, wvs) == 0))
		fprintf(stderr, "vcpusim-capture: out of memory: CPU-time stamps are per thread, "
			"not on one timeline\n");
	for (int i = 0; wvs && i <= n; i++)
		free(wvs[i]);
	free(wvs);
	if (ok) {
		char host[512];
		host_string(host, sizeof host);
		const char *prog = getenv("VCPUSIM_TRACE_PROGRAM");
		char *cmd = prog ? strdup(prog) : read_cmdline();
		char clk[256], wall[128];
		if (use_tsc)
			snprintf(wall, sizeof wall, "rdtsc (%.4f GHz over this run, against "
				 "CLOCK_MONOTONIC) ns", 1.0 / to_ns);
		else
			snprintf(wall, sizeof wall, "CLOCK_MONOTONIC ns");
		if (use_cpu)
			snprintf(clk, sizeof clk, "cpu: busy intervals CLOCK_THREAD_CPUTIME_ID, "
				 "waits %s", wall);
		else
			snprintf(clk, sizeof clk, "%s", wall);
		ok = trace_set_str(&t->clock, clk) == 0 &&
		     trace_set_str(&t->program, cmd ? cmd : "") == 0 &&
		     trace_set_str(&t->host, host) == 0;
		free(cmd);
		t->start_unix_ns = base_unix_ns;
		t->duration_ns = end;
	}
	char err[512];
	const char *out = getenv("VCPUSIM_TRACE_OUT");
	if (!ok)
		fprintf(stderr, "vcpusim-capture: out of memory; no trace written\n");
	else if (t->nthreads == 0)
		fprintf(stderr, "vcpusim-capture: %s: no thread recorded anything; no trace "
			"written\n", out);
	else if (trace_validate(t, err, sizeof err) < 0)
		fprintf(stderr, "vcpusim-capture: internal error, inconsistent trace (%s); "
			"no trace written\n", err);
	else if (trace_write_file(t, out, err, sizeof err) < 0)
		fprintf(stderr, "vcpusim-capture: %s\n", err);
	/* Threads ran but none called anything recognised: most likely a runtime this
	 * library does not wrap (or a static binary's): the trace has only each
	 * thread's computation, and a replay would show no synchronisation at all. */
	if (ok && atomic_load(&nthreads) > 1 && !atomic_load(&seen_runtime))
		fprintf(stderr, "vcpusim-capture: warning: %d threads ran but no OpenMP "
			"(libgomp GOMP_*, libomp __kmpc_*) or pthread synchronisation call was "
			"seen: the trace has no regions, barriers or locks. Does the program use "
			"another runtime, or link one statically?\n", atomic_load(&nthreads));
	if (forced)
		fprintf(stderr, "vcpusim-capture: warning: %d lock(s) held across a barrier or "
			"region boundary were recorded as released there\n", forced);
	if (getenv("VCPUSIM_CAPTURE_VERBOSE")) {
		uint64_t evs = 0;
		for (int i = 0; t && i < t->nthreads; i++)
			evs += t->threads[i].n;
		fprintf(stderr, "vcpusim-capture: %llu events, written at exit in %.3f ms\n",
			(unsigned long long)evs, (double)(now_ns() - base_ns - end) / 1e6);
		if (use_cpu)
			fprintf(stderr, "vcpusim-capture: CPU-time mode removed %.3f ms of "
				"descheduled busy time (all threads)\n", (double)dropped_ns / 1e6);
	}
	free(lt.k);
	trace_free(t);
	in_hook--;
}
