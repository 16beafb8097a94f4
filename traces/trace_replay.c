/* trace_replay.c: loading a trace of any supported kind, turning it into guest
 * programs for replay (replay.h), and the summary figures of `vcpusim trace info`.
 *
 * The walk over a thread's events is shared: compute is the time a thread is busy
 * outside synchronisation (from the event that ends a wait to the one that starts
 * the next); a critical section is the time from acquiring the outermost lock to
 * releasing the last one held (inner locks are folded into the outer section, since
 * the guest model holds one lock at a time); region begin, region end and barrier
 * entry are team barriers (FORMAT.md, "Replay"). A tlb_flush event (format version 2:
 * a munmap, mprotect, madvise(MADV_DONTNEED) or mremap that returned) splits the
 * compute around it with a TLB shootdown (OP_TLB_SHOOTDOWN: the guest model flushes
 * the other vCPUs running the program and waits for them, models/guest.c); one made
 * inside a critical section is replayed right after the section, since the guest
 * model's critical section is one timed step. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE   /* MAP_ANONYMOUS, MAP_POPULATE */
#endif
#include "traces/replay.h"
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <fcntl.h>
#include <unistd.h>

#define MAX_FILE_BYTES ((size_t)1 << 32)

/* A trace file's buffer. One of 64 KiB or more is an anonymous mapping whose pages
 * the kernel allocates at once (MAP_POPULATE) instead of one page fault each as
 * read() first touches them: ~100 faults for a 400 KB trace, which in a fresh
 * process (every `vcpusim run`) were a third of reading it (issue 15). *map: the
 * mapping's length, 0 for malloc'ed. */
static unsigned char *tbuf_alloc(size_t cap, size_t *map)
{
#if defined(MAP_ANONYMOUS) && defined(MAP_POPULATE)
	if (cap >= (size_t)1 << 16) {
		void *m = mmap(NULL, cap, PROT_READ | PROT_WRITE,
			       MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
		if (m != MAP_FAILED) {
			*map = cap;
			return m;
		}
	}
#endif
	*map = 0;
	return malloc(cap);
}

static void tbuf_free(unsigned char *buf, size_t map)
{
	if (map)
		munmap(buf, map);
	else
		free(buf);
}

/* read(2) until count bytes or the end of the file: the bytes read, or -1 on an
 * error (an interrupted read is retried). */
static ssize_t read_full(int fd, unsigned char *p, size_t count)
{
	size_t n = 0;
	while (n < count) {
		ssize_t r = read(fd, p + n, count - n);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return -1;
		if (r == 0)
			break;
		n += (size_t)r;
	}
	return (ssize_t)n;
}

/* The bytes of a vcpusim trace file (to free with tbuf_free(buf, *map)), or NULL
 * with a message. Plain read(2) on a descriptor, not stdio: a FILE and its buffer
 * are allocated and freed, and the file read in 8 + 4 KiB + ... pieces, for nothing
 * (~40 us of a fresh process's load of a 400 KB trace, issue 15). */
static unsigned char *read_trace_file(const char *path, size_t *len, size_t *map, char *err,
				      size_t errlen)
{
	int in = !strcmp(path, "-");
	int fd = in ? STDIN_FILENO : open(path, O_RDONLY | O_CLOEXEC);
	struct stat sb;
	if (fd < 0 || fstat(fd, &sb) != 0) {
		snprintf(err, errlen, "%s: cannot open the trace: %s", path, strerror(errno));
		if (fd >= 0 && !in)
			close(fd);
		return NULL;
	}
	if (S_ISDIR(sb.st_mode)) {
		snprintf(err, errlen, "%s: is a directory; expected a vcpusim trace file or an "
			 "OTF2 anchor file (*.otf2)", path);
		if (!in)
			close(fd);
		return NULL;
	}
	if ((uint64_t)sb.st_size > MAX_FILE_BYTES) {
		snprintf(err, errlen, "%s: %lld bytes, larger than the 4 GiB this build reads",
			 path, (long long)sb.st_size);
		if (!in)
			close(fd);
		return NULL;
	}
	/* the magic number first: a device or pipe (/dev/zero) has no size to check,
	 * and 4 GiB of something else is not read to find that out (at most 4 KiB is) */
	size_t cap = S_ISREG(sb.st_mode) && sb.st_size > 8 ? (size_t)sb.st_size + 1 : 1 << 16, n = 0;
	unsigned char *buf = tbuf_alloc(cap, map);
	if (!buf) {
		if (!in)
			close(fd);
		snprintf(err, errlen, "%s: out of memory", path);
		return NULL;
	}
	ssize_t r;
	while (n < 8 && (r = read(fd, buf + n, (cap < 4096 ? cap : 4096) - n)) != 0)
		if (r > 0)
			n += (size_t)r;
		else if (errno != EINTR)
			break;   /* an error reads as the end, as fread's did */
	if (n < 8 || memcmp(buf, TRACE_MAGIC, 8) != 0) {
		if (!in)
			close(fd);
		struct trace *t = trace_decode(buf, n < 8 ? n : 8, path, err, errlen);   /* says why */
		tbuf_free(buf, *map);
		if (t) {
			trace_free(t);
			snprintf(err, errlen, "%s: not a vcpusim trace", path);
		}
		return NULL;
	}
	int rerr = 0;
	for (;;) {
		size_t want = cap - n;
		r = read_full(fd, buf + n, want);
		if (r < 0) {
			rerr = 1;
			break;
		}
		n += (size_t)r;
		if ((size_t)r < want)
			break;   /* the end of the file */
		/* n == cap: the file grew while we read it, or a pipe */
		if (cap >= MAX_FILE_BYTES)
			break;
		unsigned char *b = malloc(cap * 2);
		if (!b)
			break;
		memcpy(b, buf, n);
		tbuf_free(buf, *map);
		*map = 0;
		buf = b;
		cap *= 2;
	}
	if (!in)
		close(fd);
	if (rerr || n == cap) {
		tbuf_free(buf, *map);
		snprintf(err, errlen, rerr ? "%s: read error" : "%s: larger than this build reads",
			 path);
		return NULL;
	}
	*len = n;
	return buf;
}

static int is_otf2(const char *path)
{
	size_t pl = strlen(path);
	return pl > 5 && !strcmp(path + pl - 5, ".otf2");
}

struct trace *trace_load(const char *path, char *err, size_t errlen)
{
	if (is_otf2(path))
		return trace_load_otf2(path, err, errlen);
	size_t n, map;
	unsigned char *buf = read_trace_file(path, &n, &map, err, errlen);
	if (!buf)
		return NULL;
	struct trace *t = trace_decode(buf, n, path, err, errlen);
	tbuf_free(buf, map);
	return t;
}

/* ------------------------------------------------------------------ walk */

struct sink {
	void (*compute)(struct sink *s, uint64_t ns);
	void (*lock)(struct sink *s, uint32_t lock, uint64_t hold_ns);
	void (*barrier)(struct sink *s);
	void (*tlb)(struct sink *s);
	void (*fork)(struct sink *s, uint64_t t);   /* after the compute it ends; may be NULL */
};

/* One event of a thread's walk (the rules above). Inlined into each caller, whose
 * sink is a local with known functions, so that the compiler calls (and inlines)
 * them directly: through pointers, the walk was a sixth of loading a trace. */
static inline __attribute__((always_inline)) void walk_event(struct trace_walk *w, const struct trace_event *e, struct sink *s)
{
	switch (e->kind) {
	case TEV_THREAD_BEGIN:
	case TEV_JOIN:
	case TEV_BARRIER_EXIT:
		w->busy = 1;
		w->since = e->t;
		break;
	case TEV_THREAD_END:
	case TEV_FORK:
		if (w->busy)
			s->compute(s, e->t - w->since);
		w->busy = 0;
		if (e->kind == TEV_FORK && s->fork)
			s->fork(s, e->t);
		break;
	case TEV_REGION_BEGIN:
		if (w->busy)
			s->compute(s, e->t - w->since);
		s->barrier(s);
		w->busy = 1;
		w->since = e->t;
		break;
	case TEV_REGION_END:
	case TEV_BARRIER_ENTER:
		if (w->busy)
			s->compute(s, e->t - w->since);
		s->barrier(s);
		w->busy = 0;
		break;
	case TEV_LOCK_REQ:
		if (w->nheld == 0 && w->busy) {
			s->compute(s, e->t - w->since);
			w->busy = 0;
		}
		break;
	case TEV_LOCK_ACQ:
		if (w->nheld++ == 0) {
			w->acq = e->t;
			w->outer = e->arg;
		}
		break;
	case TEV_LOCK_REL:
		if (w->nheld > 0 && --w->nheld == 0) {
			s->lock(s, w->outer, e->t - w->acq);
			for (; w->tlb_held > 0; w->tlb_held--)
				s->tlb(s);
			w->busy = 1;
			w->since = e->t;
		}
		break;
	case TEV_TLB_FLUSH:
		if (w->nheld > 0) {
			w->tlb_held++;   /* after the critical section */
			break;
		}
		if (w->busy) {
			s->compute(s, e->t - w->since);
			w->since = e->t;
		}
		s->tlb(s);
		break;
	}
}

static void walk(const struct trace_thread *th, struct sink *s)
{
	struct trace_walk w = { 0 };
	for (size_t k = 0; k < th->n; k++)
		walk_event(&w, &th->ev[k], s);
}

/* ------------------------------------------------------------- programs */

static simtime_t scaled(double scale, uint64_t ns)
{
	double v = nearbyint((double)ns * scale);
	return v > 4e18 ? (simtime_t)4e18 : (simtime_t)v;
}

/* Loading: in the pass that checks the file, the walk of every stream numbers the
 * locks in order of first use (thread 0's stream first) and counts each thread's
 * ops and barriers. */
struct count_sink {
	struct trace_program *p;
	int thread;
	int last_compute;   /* the previous op was a compute (the next one merges) */
	struct trace_walk w;
	uint64_t *barriers; /* per thread */
	int nthreads;       /* room in nops and barriers */
	int oom;
};

struct count_ref {   /* the walk's sink: a local, so that walk_event's calls are direct */
	struct sink s;
	struct count_sink *cs;
};

static void cnt_compute(struct sink *s, uint64_t ns)
{
	struct count_sink *cs = ((struct count_ref *)s)->cs;
	/* scaled() > 0, without the rounding: nearbyint(x) > 0 iff x > 0.5 */
	if (!((double)ns * cs->p->scale > 0.5) || cs->last_compute)
		return;
	cs->p->nops[cs->thread]++;
	cs->last_compute = 1;
}

static void cnt_lock(struct sink *s, uint32_t lock, uint64_t hold)
{
	struct count_sink *cs = ((struct count_ref *)s)->cs;
	if (cs->p->lockmap[lock] < 0)
		cs->p->lockmap[lock] = cs->p->nlocks++;
	cs->p->nops[cs->thread]++;
	cs->last_compute = 0;
}

static void cnt_tlb(struct sink *s)
{
	struct count_sink *cs = ((struct count_ref *)s)->cs;
	cs->p->nops[cs->thread]++;
	cs->last_compute = 0;
	cs->p->tlb_flushes++;
}

static void cnt_barrier(struct sink *s)
{
	struct count_sink *cs = ((struct count_ref *)s)->cs;
	cs->p->nops[cs->thread]++;
	cs->last_compute = 0;
	cs->barriers[cs->thread]++;
}

static void cnt_fork(struct sink *s, uint64_t t)
{
	struct count_sink *cs = ((struct count_ref *)s)->cs;
	if (cs->thread == 0 && t < cs->p->fork_t)
		cs->p->fork_t = t;
}

/* First (e NULL): sizes the counts by the header's; then every event, n at a time. */
static void cnt_event(void *ctx, const struct trace *t, int thread, const struct trace_event *e,
		      size_t n)
{
	struct count_sink *cs = ctx;
	if (!e) {
		struct trace_program *p = cs->p;
		cs->nthreads = thread;
		p->nops = calloc(thread ? (size_t)thread : 1, sizeof *p->nops);
		cs->barriers = calloc(thread ? (size_t)thread : 1, sizeof *cs->barriers);
		p->lockmap = malloc((t->nlocks ? t->nlocks : 1) * sizeof *p->lockmap);
		cs->oom = !p->nops || !cs->barriers || !p->lockmap;
		for (uint32_t l = 0; !cs->oom && l < t->nlocks; l++)
			p->lockmap[l] = -1;
		cs->thread = 0;
		return;
	}
	if (cs->oom || thread >= cs->nthreads)
		return;
	if (thread != cs->thread) {
		cs->thread = thread;
		cs->last_compute = 0;
		memset(&cs->w, 0, sizeof cs->w);
	}
	struct count_ref r = { { cnt_compute, cnt_lock, cnt_barrier, cnt_tlb, cnt_fork }, cs };
	for (size_t k = 0; k < n; k++)
		walk_event(&cs->w, &e[k], &r.s);
}

void trace_program_free(struct trace_program *p)
{
	if (!p)
		return;
	free(p->nops);
	tbuf_free(p->buf, p->buf_map);
	free(p->start);
	free(p->count);
	free(p->lockmap);
	memset(p, 0, sizeof *p);
}

/* ------------------------------------------------ loading: the fast path */

/* A varint at *q, below end: 0, or -1 where get_uv (trace_format.c) fails. */
static inline __attribute__((always_inline)) int fast_uv(const unsigned char **q,
							  const unsigned char *end, uint64_t *v)
{
	const unsigned char *s = *q;
	if (s < end && s[0] < 0x80) {   /* most times and args take one byte */
		*v = s[0];
		*q = s + 1;
		return 0;
	}
	uint64_t x = 0;
	for (int sh = 0; sh < 64; sh += 7) {
		if (s >= end)
			return -1;
		unsigned b = *s++;
		if (sh == 63 && b > 1)
			return -1;
		x |= (uint64_t)(b & 0x7F) << sh;
		if (!(b & 0x80)) {
			*v = x;
			*q = s;
			return 0;
		}
	}
	return -1;
}

/* fast_uv where at least 10 bytes remain (a varint's most): no bound to check per
 * byte; the same values and the same failures (an eleventh byte, or more than 64
 * bits: sh == 63 with b > 1). */
static inline __attribute__((always_inline)) int fast_uv10(const unsigned char **q, uint64_t *v)
{
	const unsigned char *s = *q;
	if (s[0] < 0x80) {
		*v = s[0];
		*q = s + 1;
		return 0;
	}
	if (s[1] < 0x80) {   /* most of the rest: a compute of 128 ns to 16 us */
		*v = (uint64_t)(s[0] & 0x7F) | (uint64_t)s[1] << 7;
		*q = s + 2;
		return 0;
	}
	uint64_t x = (uint64_t)(s[0] & 0x7F) | (uint64_t)(s[1] & 0x7F) << 7;
	s += 2;
	for (int sh = 14; sh < 64; sh += 7) {
		unsigned b = *s++;
		if (sh == 63 && b > 1)
			return -1;
		x |= (uint64_t)(b & 0x7F) << sh;
		if (!(b & 0x80)) {
			*v = x;
			*q = s;
			return 0;
		}
	}
	return -1;
}

#define ARG_KINDS (1u << TEV_REGION_BEGIN | 1u << TEV_BARRIER_ENTER | 1u << TEV_LOCK_REQ | \
		   1u << TEV_LOCK_ACQ | 1u << TEV_LOCK_REL | 1u << TEV_TLB_FLUSH)

/* The checks of trace_decode_lazy (traces/FORMAT.md, "Rules": trace_format.c
 * tv_event and get_event) and the counting walk of cnt_event (walk_event with the
 * count sink) fused into one loop over each stream's bytes, without a message: it
 * only answers whether the trace is valid, and when it is, fills p exactly as the
 * reference path (program_from's second half) does. Any defect, and anything it is
 * not sure of, returns -1, and the caller runs the reference path, which finds the
 * defect again and says where (or builds p itself). Loading was ~12 ns an event in
 * three passes (checks, a batch array, the walk through its sink); this is one.
 * tests/fuzz/fuzz_trace.c checks that both paths accept the same traces and build
 * the same programs. Not inlined into its caller: there the loop's code depended on
 * unrelated lines around the call (a counter's increment made it 10% slower). */
static __attribute__((noinline)) int program_fast(const unsigned char *buf, size_t len,
						  double scale, struct trace_program *p)
{
	size_t first;
	uint64_t nth;
	struct trace *h = trace_decode_header(buf, len, &first, &nth);
	if (!h)
		return -1;
	int nthreads = (int)nth, rc = -1;
	uint32_t nlocks = h->nlocks;
	uint64_t duration = h->duration_ns;
	int v2 = h->version >= 2;
	trace_free(h);
	uint64_t *barriers = calloc((size_t)nthreads, sizeof *barriers);
	p->nops = calloc((size_t)nthreads, sizeof *p->nops);
	p->start = calloc((size_t)nthreads + 1, sizeof *p->start);
	p->count = calloc((size_t)nthreads, sizeof *p->count);
	p->lockmap = malloc((nlocks ? nlocks : 1) * sizeof *p->lockmap);
	if (!barriers || !p->nops || !p->start || !p->count || !p->lockmap)
		goto out;
	for (uint32_t l = 0; l < nlocks; l++)
		p->lockmap[l] = -1;
	/* cnt_compute's test, (double)ns * scale > 0.5, as ns >= min_ns: the product
	 * is monotone in ns, so the set where it holds starts at one ns, found here by
	 * the same arithmetic (scale is within 1e-6..1e6 for a workload; outside a
	 * sane range the reference path does it) */
	if (!(scale >= 1e-9 && scale <= 1e9))
		goto out;
	uint64_t min_ns = (uint64_t)(0.5 / scale);
	while (min_ns > 0 && (double)(min_ns - 1) * scale > 0.5)
		min_ns--;
	while (!((double)min_ns * scale > 0.5))
		min_ns++;
	const unsigned char *q = buf + first, *end = buf + len - 4;   /* the CRC after */
	/* p's counts in locals while the loop runs (p's fields could alias lockmap) */
	int *lockmap = p->lockmap, nlk = 0;
	uint64_t tlb_flushes = 0, fork_t = p->fork_t;
	for (int i = 0; i < nthreads; i++) {
		uint64_t n;
		if (fast_uv(&q, end, &n) < 0 || n > (uint64_t)(end - q) / 2 || n < 2)
			goto out;
		p->start[i] = (size_t)(q - buf);
		p->count[i] = (size_t)n;
		/* the checks' state (tv_event) */
		uint32_t held[TRACE_MAX_LOCK_DEPTH];
		int nheld = 0, depth = 0;
		uint64_t now = 0;
		/* the walk's (walk_event) and the count's (cnt_*) */
		int busy, tlb_held = 0, last_compute = 0;
		uint64_t since, nops = 0, nbar = 0;
		uint32_t outer = 0;
		unsigned kind;
		uint64_t dt, arg;
		/* the next event: kind, dt (now advanced) and arg (0 for a kind without) */
		/* an event takes at most 21 bytes (a kind, two varints): where that many
		 * remain, one bound check for the event instead of one per byte */
#define NEXT_EVENT() do { \
		arg = 0; \
		if (end - q >= 21) { \
			kind = *q++; \
			if (kind >= TEV_KINDS || fast_uv10(&q, &dt) < 0 || \
			    (((ARG_KINDS >> kind) & 1) && fast_uv10(&q, &arg) < 0)) \
				goto out; \
		} else { \
			if (q >= end) \
				goto out; \
			kind = *q++; \
			if (kind >= TEV_KINDS || fast_uv(&q, end, &dt) < 0 || \
			    (((ARG_KINDS >> kind) & 1) && fast_uv(&q, end, &arg) < 0)) \
				goto out; \
		} \
		if (dt > duration - now || arg > UINT32_MAX) \
			goto out;   /* also: now + dt beyond 2^62, as duration <= 2^62 */ \
		now += dt; \
	} while (0)
#define COMPUTE(ns) do { \
		if ((ns) >= min_ns && !last_compute) { \
			nops++; \
			last_compute = 1; \
		} } while (0)
		/* cnt_barrier; and walk_event's compute up to a barrier or fork */
#define BARRIER() do { nops++; last_compute = 0; nbar++; } while (0)
#define ENDS_COMPUTE() do { if (busy) COMPUTE(now - since); } while (0)
		/* the first event: thread_begin (no other rule applies to it) */
		NEXT_EVENT();
		if (kind != TEV_THREAD_BEGIN)
			goto out;
		busy = 1;
		since = now;
		/* the middle ones, up to thread_end. An event that must come right after
		 * another (a lock's acquisition after its request, a region's begin after
		 * the master's fork, a barrier's exit after its entry: tv_event's expect)
		 * is read in the case of the first (SUCCESSOR), so no event pays for
		 * checking an expectation; and where a run of sections or of barriers
		 * goes on (PEEK), the next one is read without the dispatch. k counts the
		 * events read and is checked at thread_end: one before the count, or none
		 * at it, is refused either way. KNOWN reads an event whose kind byte at q
		 * is known, where 21 bytes remain. */
#define KNOWN(has_arg) do { \
		q++; \
		arg = 0; \
		if (fast_uv10(&q, &dt) < 0 || ((has_arg) && fast_uv10(&q, &arg) < 0)) \
			goto out; \
		if (dt > duration - now || arg > UINT32_MAX) \
			goto out; \
		now += dt; \
	} while (0)
#define SUCCESSOR(want, has_arg) do { \
		k++; \
		if (end - q >= 21) { \
			if (*q != (want)) \
				goto out; \
			kind = (want); \
			KNOWN(has_arg); \
		} else { \
			NEXT_EVENT(); \
			if (kind != (want)) \
				goto out; \
		} \
	} while (0)
#define PEEK(want) (end - q >= 21 && *q == (want))
		uint64_t k = 1;
		for (;;) {
			NEXT_EVENT();
			k++;
			switch (kind) {
			case TEV_LOCK_REQ: {
			lock_req:
				if (arg >= nlocks)
					goto out;
				for (int j = 0; j < nheld; j++)
					if (held[j] == arg)
						goto out;
				if (nheld == 0 && busy) {
					COMPUTE(now - since);
					busy = 0;
				}
				uint64_t req = arg;
				SUCCESSOR(TEV_LOCK_ACQ, 1);
				if (arg != req || nheld == TRACE_MAX_LOCK_DEPTH)
					goto out;
				if (nheld == 0 && PEEK(TEV_LOCK_REL)) {
					/* most sections: one lock, released next (LOCK_REL's
					 * case below, with held[] = { req }) */
					k++;
					kind = TEV_LOCK_REL;
					KNOWN(1);
					if (arg != req)
						goto out;   /* a lock not held */
					if (lockmap[req] < 0)
						lockmap[req] = nlk++;
					nops++;
					last_compute = 0;
					busy = 1;
					since = now;
					/* the next section's request, as it often is: read
					 * here, without a dispatch */
					if (PEEK(TEV_LOCK_REQ)) {
						k++;
						kind = TEV_LOCK_REQ;
						KNOWN(1);
						goto lock_req;
					}
					break;
				}
				if (nheld == 0)
					outer = (uint32_t)arg;   /* the hold time is replay's, not the count's */
				held[nheld++] = (uint32_t)arg;
				break;
			}
			case TEV_LOCK_REL: {
				if (arg >= nlocks)
					goto out;
				int j = 0;
				while (j < nheld && held[j] != arg)
					j++;
				if (j == nheld)
					goto out;
				for (; j < nheld - 1; j++)
					held[j] = held[j + 1];
				if (--nheld == 0) {
					if (lockmap[outer] < 0)
						lockmap[outer] = nlk++;
					nops += 1 + (uint64_t)tlb_held;
					tlb_flushes += (uint64_t)tlb_held;
					tlb_held = 0;
					last_compute = 0;
					busy = 1;
					since = now;
				}
				break;
			}
			case TEV_JOIN:
			case TEV_BARRIER_EXIT:
				busy = 1;
				since = now;
				break;
			case TEV_BARRIER_ENTER:
			barrier_enter:
				if (arg >= TBAR_CLASSES || nheld)
					goto out;
				ENDS_COMPUTE();
				BARRIER();
				SUCCESSOR(TEV_BARRIER_EXIT, 0);
				busy = 1;
				since = now;
				/* the next barrier, as in a loop of barriers: without a
				 * dispatch */
				if (PEEK(TEV_BARRIER_ENTER)) {
					k++;
					kind = TEV_BARRIER_ENTER;
					KNOWN(1);
					goto barrier_enter;
				}
				break;
			case TEV_FORK:
				if (busy)
					COMPUTE(now - since);
				busy = 0;
				if (i == 0 && now < fork_t)
					fork_t = now;
				SUCCESSOR(TEV_REGION_BEGIN, 1);
				__attribute__((fallthrough));   /* into the region's begin */
			case TEV_REGION_BEGIN:
				if (nheld || ++depth > 64)
					goto out;
				ENDS_COMPUTE();
				BARRIER();
				busy = 1;
				since = now;
				break;
			case TEV_REGION_END:
				if (depth == 0 || nheld)
					goto out;
				depth--;
				ENDS_COMPUTE();
				BARRIER();
				busy = 0;
				break;
			case TEV_TLB_FLUSH:
				if (!v2)
					goto out;
				if (nheld > 0) {
					tlb_held++;   /* after the critical section */
					break;
				}
				if (busy) {
					COMPUTE(now - since);
					since = now;
				}
				nops++;
				last_compute = 0;
				tlb_flushes++;
				break;
			case TEV_THREAD_END:
				goto thread_end;
			default:   /* thread_begin; an acquisition not right after its
				    * request */
				goto out;
			}
		}
#undef PEEK
#undef SUCCESSOR
#undef KNOWN
		/* the last event: thread_end, where the count says, with nothing open */
	thread_end:
		if (k != n || nheld || depth)
			goto out;
		if (busy)
			COMPUTE(now - since);
#undef COMPUTE
#undef NEXT_EVENT
#undef BARRIER
#undef ENDS_COMPUTE
		p->nops[i] = (size_t)nops;
		barriers[i] = nbar;
		if (nbar != barriers[0])
			goto out;   /* the reference path says which thread */
	}
	if (q != end)
		goto out;
	p->nthreads = nthreads;
	p->barriers = barriers[0];
	p->trace_locks = nlocks;
	p->nlocks = nlk;
	p->tlb_flushes = tlb_flushes;
	p->fork_t = fork_t;
	rc = 0;
out:
	free(barriers);
	return rc;
}

unsigned long trace_program_fallbacks;

/* Checks buf (an encoded vcpusim trace, taken over by p) and builds p from it in the
 * same pass. name is for messages. Returns 0, or -1 with "NAME: ..." in err. The
 * fast path first (unless reference); the reference path when it is not sure. */
static int program_from_(unsigned char *buf, size_t len, size_t map, const char *name,
			 double scale, int reference, struct trace_program *p, char *err,
			 size_t errlen)
{
	memset(p, 0, sizeof *p);
	p->scale = scale;
	p->buf = buf;
	p->buf_map = map;
	p->fork_t = UINT64_MAX;
	if (!reference) {
		if (program_fast(buf, len, scale, p) == 0)
			return 0;
		trace_program_fallbacks++;
		free(p->nops);
		free(p->start);
		free(p->count);
		free(p->lockmap);
		memset(p, 0, sizeof *p);
		p->scale = scale;
		p->buf = buf;
		p->buf_map = map;
		p->fork_t = UINT64_MAX;
	}
	struct count_sink cs = { p, 0, 0, { 0 }, NULL, 0, 0 };
	size_t *off = NULL;
	struct trace *h = trace_decode_lazy(buf, len, name, err, errlen, &off, cnt_event, &cs);
	if (h && cs.oom) {
		snprintf(err, errlen, "%s: out of memory", name);
		trace_free(h);
		h = NULL;
	}
	if (!h) {
		free(cs.barriers);
		trace_program_free(p);
		return -1;
	}
	p->nthreads = h->nthreads;
	p->trace_locks = h->nlocks;
	p->start = off;
	p->count = calloc((size_t)h->nthreads, sizeof *p->count);
	int rc = p->count ? 0 : -1;
	if (rc)
		snprintf(err, errlen, "%s: out of memory", name);
	for (int i = 0; !rc && i < h->nthreads; i++) {
		p->count[i] = h->threads[i].n;
		if (cs.barriers[i] != cs.barriers[0]) {
			snprintf(err, errlen, "%s: thread %d of the trace waits at %llu barriers, "
				 "thread 0 at %llu: a replay needs every thread at every barrier "
				 "(regions run by fewer threads than the trace has are not "
				 "supported)", name, i, (unsigned long long)cs.barriers[i],
				 (unsigned long long)cs.barriers[0]);
			rc = -1;
		}
	}
	p->barriers = cs.barriers[0];
	free(cs.barriers);
	trace_free(h);
	if (rc)
		trace_program_free(p);
	return rc;
}

static int program_from(unsigned char *buf, size_t len, size_t map, const char *name,
			double scale, struct trace_program *p, char *err, size_t errlen)
{
	return program_from_(buf, len, map, name, scale, 0, p, err, errlen);
}

int trace_program_same(const struct trace_program *a, const struct trace_program *b)
{
	if (a->nthreads != b->nthreads || a->nlocks != b->nlocks || a->barriers != b->barriers ||
	    a->tlb_flushes != b->tlb_flushes || a->fork_t != b->fork_t || a->scale != b->scale)
		return 0;
	for (int i = 0; i < a->nthreads; i++)
		if (a->nops[i] != b->nops[i] || a->start[i] != b->start[i] || a->count[i] != b->count[i])
			return 0;
	if (a->trace_locks != b->trace_locks)
		return 0;
	for (uint32_t l = 0; l < a->trace_locks; l++)
		if (a->lockmap[l] != b->lockmap[l])
			return 0;
	return 1;
}

int trace_program_from_buffer(unsigned char *buf, size_t len, const char *name, double scale,
			      int reference, struct trace_program *p, char *err, size_t errlen)
{
	return program_from_(buf, len, 0, name, scale, reference, p, err, errlen);
}

int trace_to_program(const struct trace *t, double time_scale, struct trace_program *p,
		     char *err, size_t errlen)
{
	memset(p, 0, sizeof *p);
	unsigned char *buf;
	size_t len;
	if (trace_encode(t, &buf, &len) < 0) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	char why[700];
	if (program_from(buf, len, 0, "trace", time_scale, p, why, sizeof why) < 0) {
		/* without the "trace: " of the name: the caller names the trace */
		snprintf(err, errlen, "%s", strncmp(why, "trace: ", 7) ? why : why + 7);
		return -1;
	}
	return 0;
}

int trace_program_load(const char *path, double time_scale, struct trace_program *p,
		       char *err, size_t errlen)
{
	memset(p, 0, sizeof *p);
	if (is_otf2(path)) {
		struct trace *t = trace_load_otf2(path, err, errlen);
		if (!t)
			return -1;
		char why[700];
		int rc = trace_to_program(t, time_scale, p, why, sizeof why);
		if (rc < 0)
			snprintf(err, errlen, "%s: %s", path, why);
		trace_free(t);
		return rc;
	}
	size_t len, map;
	unsigned char *buf = read_trace_file(path, &len, &map, err, errlen);
	if (!buf)
		return -1;
	return program_from(buf, len, map, path, time_scale, p, err, errlen);
}

/* Replaying: the walk's output, one op at a time. A compute is held back until the
 * next op (consecutive computes merge into one, as they always have); the op that
 * ended it waits in pending. */
struct next_sink {
	struct sink s;
	const struct trace_program *p;
	struct trace_cursor *c;
};

static void nx_compute(struct sink *s, uint64_t ns)
{
	struct next_sink *n = (struct next_sink *)s;
	simtime_t d = scaled(n->p->scale, ns);
	if (d > 0)
		n->c->acc += d;
}

static void nx_lock(struct sink *s, uint32_t lock, uint64_t hold)
{
	struct next_sink *n = (struct next_sink *)s;
	simtime_t cs = scaled(n->p->scale, hold);
	memset(&n->c->pending, 0, sizeof n->c->pending);
	n->c->pending.kind = OP_LOCK;
	n->c->pending.lock = n->p->lockmap[lock];
	n->c->pending.cs_ns = cs > 0 ? cs : 1;
	n->c->has_pending = 1;
}

static void nx_barrier(struct sink *s)
{
	struct next_sink *n = (struct next_sink *)s;
	memset(&n->c->pending, 0, sizeof n->c->pending);
	n->c->pending.kind = OP_BARRIER;
	n->c->has_pending = 1;
}

static void nx_tlb(struct sink *s)
{
	((struct next_sink *)s)->c->tlb_pending++;
}

/* The master's fork: the threads it creates exist from now (flag 0 += 1). */
static void nx_fork(struct sink *s, uint64_t t)
{
	struct next_sink *n = (struct next_sink *)s;
	(void)t;
	if (!n->c->fork_signal)
		return;
	n->c->fork_signal = 0;
	memset(&n->c->pending, 0, sizeof n->c->pending);
	n->c->pending.kind = OP_SIGNAL;
	n->c->pending.flag = 0;
	n->c->has_pending = 1;
}

int trace_program_spawned(const struct trace_program *p, int i)
{
	if (i <= 0 || i >= p->nthreads || p->fork_t == UINT64_MAX || p->count[i] == 0)
		return 0;
	size_t off = p->start[i];
	uint64_t now = 0;
	struct trace_event e;
	trace_stream_next(p->buf, &off, &now, &e);   /* its thread_begin */
	return e.t >= p->fork_t;
}

void trace_cursor_start(const struct trace_program *p, int i, struct trace_cursor *c)
{
	memset(c, 0, sizeof *c);
	c->off = p->start[i];
	c->left = p->count[i];
}

void trace_program_next(const struct trace_program *p, struct trace_cursor *c, struct op *out)
{
	memset(out, 0, sizeof *out);
	struct next_sink ns = { { nx_compute, nx_lock, nx_barrier, nx_tlb, nx_fork }, p, c };
	for (;;) {
		if (c->acc > 0 && (c->has_pending || c->tlb_pending || c->left == 0)) {
			out->kind = OP_COMPUTE;
			out->ns = c->acc;
			c->acc = 0;
			return;
		}
		if (c->has_pending) {
			*out = c->pending;
			c->has_pending = 0;
			return;
		}
		if (c->tlb_pending) {   /* after the op it followed */
			c->tlb_pending--;
			out->kind = OP_TLB_SHOOTDOWN;
			return;
		}
		if (c->left == 0) {
			out->kind = OP_END;
			return;
		}
		struct trace_event e;
		trace_stream_next(p->buf, &c->off, &c->now, &e);
		c->left--;
		walk_event(&c->w, &e, &ns.s);
	}
}

size_t trace_program_ops(const struct trace_program *p, int i, struct op **ops)
{
	struct trace_cursor c;
	size_t n = 0;
	*ops = malloc((p->nops[i] + 1) * sizeof **ops);
	trace_cursor_start(p, i, &c);
	for (;;) {
		struct op x;
		trace_program_next(p, &c, &x);
		if (x.kind == OP_END)
			return n;
		if (*ops && n < p->nops[i] + 1)
			(*ops)[n] = x;
		n++;
	}
}

/* ---------------------------------------------------------------- stats */

struct stat_sink {
	struct sink s;
	struct trace_stats *st;
};

static void st_compute(struct sink *s, uint64_t ns)
{
	((struct stat_sink *)s)->st->compute_ns += ns;
}

static void st_lock(struct sink *s, uint32_t lock, uint64_t hold)
{
	struct trace_stats *st = ((struct stat_sink *)s)->st;
	st->compute_ns += hold;
	st->cs_ns += hold;
}

static void st_barrier(struct sink *s)
{
	(void)s;
}

static void st_tlb(struct sink *s)
{
	(void)s;
}

void trace_stats(const struct trace *t, struct trace_stats *st)
{
	memset(st, 0, sizeof *st);
	struct stat_sink ss = { { st_compute, st_lock, st_barrier, st_tlb, NULL }, st };
	for (int i = 0; i < t->nthreads; i++) {
		const struct trace_thread *th = &t->threads[i];
		st->events += th->n;
		for (size_t k = 0; k < th->n; k++) {
			if (th->ev[k].kind < TEV_KINDS)
				st->by_kind[th->ev[k].kind]++;
			if (th->ev[k].kind == TEV_TLB_FLUSH)
				st->tlb_by_call[th->ev[k].arg & 3]++;
		}
		walk(th, &ss.s);
	}
	st->regions = st->by_kind[TEV_REGION_BEGIN];
	st->barriers = st->by_kind[TEV_BARRIER_ENTER] + st->by_kind[TEV_REGION_END];
	st->acquisitions = st->by_kind[TEV_LOCK_ACQ];
	st->tlb_flushes = st->by_kind[TEV_TLB_FLUSH];
	st->sync_points = st->barriers + st->regions + st->acquisitions;
	double cap = (double)t->nthreads * (double)t->duration_ns;
	st->compute_fraction = cap > 0 ? (double)st->compute_ns / cap : 0;
	st->mean_interval_ns = st->sync_points ? (double)st->compute_ns / (double)st->sync_points
					       : (double)st->compute_ns;
}
