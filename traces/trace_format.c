/* trace_format.c: the in-memory trace (trace.h) and its binary file format
 * (traces/FORMAT.md): building, structural validation, encoding and decoding.
 *
 * Uses only the C library, because the capture library (traces/preload/) compiles
 * this file into the programs it is preloaded into. The decoder trusts nothing: it
 * checks the magic, version, stored length and CRC-32 before parsing, bounds every
 * read, and validates the streams, so a corrupt, truncated or hostile file gives a
 * message, never a crash. */
#include "traces/trace.h"
#include "sim/outfile.h"
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

const char *const tev_kind_names[TEV_KINDS] = {
	"thread_begin", "thread_end", "fork", "join", "region_begin", "region_end",
	"barrier_enter", "barrier_exit", "lock_request", "lock_acquire", "lock_release",
	"tlb_flush",
};
const char *const tflush_call_names[4] = { "munmap", "mprotect", "madvise", "mremap" };
const char *const tbar_class_names[TBAR_CLASSES] = {
	"explicit", "workshare_end", "pthread", "otf2",
};
const char *const tlock_class_names[TLOCK_CLASSES] = {
	"critical", "critical_named", "atomic", "omp_lock", "pthread_mutex",
	"pthread_spin", "otf2",
};

static void fmt_err(char *err, size_t errlen, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static void fmt_err(char *err, size_t errlen, const char *fmt, ...)
{
	if (!err || !errlen)
		return;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

/* ---------------------------------------------------------------- building */

struct trace *trace_new(void)
{
	struct trace *t = calloc(1, sizeof *t);
	if (t)
		t->version = TRACE_VERSION;
	return t;
}

int trace_set_str(char **field, const char *s)
{
	char *c = strdup(s ? s : "");
	if (!c)
		return -1;
	free(*field);
	*field = c;
	return 0;
}

int trace_add_thread(struct trace *t)
{
	if (t->nthreads >= TRACE_MAX_THREADS)
		return -1;
	struct trace_thread *th = realloc(t->threads, (size_t)(t->nthreads + 1) * sizeof *th);
	if (!th)
		return -1;
	t->threads = th;
	memset(&th[t->nthreads], 0, sizeof *th);
	return t->nthreads++;
}

int trace_add_lock(struct trace *t, uint32_t cls, const char *name)
{
	if (t->nlocks >= TRACE_MAX_LOCKS)
		return -1;
	struct trace_lock *l = realloc(t->locks, (size_t)(t->nlocks + 1) * sizeof *l);
	if (!l)
		return -1;
	t->locks = l;
	l[t->nlocks].cls = cls;
	l[t->nlocks].name = strdup(name ? name : "");
	if (!l[t->nlocks].name)
		return -1;
	return (int)t->nlocks++;
}

int trace_push(struct trace_thread *th, uint64_t t, uint32_t kind, uint32_t arg)
{
	if (th->n == th->cap) {
		size_t cap = th->cap ? th->cap * 2 : 64;
		struct trace_event *ev = realloc(th->ev, cap * sizeof *ev);
		if (!ev)
			return -1;
		th->ev = ev;
		th->cap = cap;
	}
	th->ev[th->n++] = (struct trace_event){ t, kind, arg };
	return 0;
}

void trace_free(struct trace *t)
{
	if (!t)
		return;
	for (int i = 0; i < t->nthreads; i++)
		free(t->threads[i].ev);
	free(t->threads);
	for (uint32_t i = 0; i < t->nlocks; i++)
		free(t->locks[i].name);
	free(t->locks);
	free(t->format);
	free(t->clock);
	free(t->program);
	free(t->host);
	free(t);
}

/* -------------------------------------------------------------- validation */

static int has_arg(uint32_t kind)
{
	return kind == TEV_REGION_BEGIN || kind == TEV_BARRIER_ENTER || kind == TEV_LOCK_REQ ||
	       kind == TEV_LOCK_ACQ || kind == TEV_LOCK_REL || kind == TEV_TLB_FLUSH;
}

/* One thread's stream, checked event by event (FORMAT.md, "Rules"): shared by
 * trace_validate and the decoder that keeps the events encoded (trace_decode_lazy). */
struct tv {
	uint32_t held[TRACE_MAX_LOCK_DEPTH];
	int nheld, depth, expect;   /* expect: the kind that must come next, or -1 */
	uint32_t expect_arg, prev_kind;
	uint64_t prev;
};

static void tv_init(struct tv *v)
{
	memset(v, 0, sizeof *v);
	v->expect = -1;
}

/* Event k of the n of a thread; 0, or -1 with what is wrong in d. Inlined into
 * the loops that read every event of a trace. */
static inline __attribute__((always_inline)) int
tv_event(struct tv *v, const struct trace *t, const struct trace_event *e, size_t k, size_t n,
	 char *d, size_t dn)
{
#define BAD(...) do { snprintf(d, dn, __VA_ARGS__); return -1; } while (0)
	if (e->kind >= TEV_KINDS || (e->kind == TEV_TLB_FLUSH && t->version < 2))
		BAD("unknown event kind %u%s", e->kind,
		    e->kind < TEV_KINDS ? " (tlb_flush needs format version 2)" : "");
	const char *kn = tev_kind_names[e->kind];
	if (e->t < v->prev)
		BAD("%s at %llu ns goes back in time (previous event at %llu ns)", kn,
		    (unsigned long long)e->t, (unsigned long long)v->prev);
	if (e->t > t->duration_ns)
		BAD("%s at %llu ns is after the end of the trace (%llu ns)", kn,
		    (unsigned long long)e->t, (unsigned long long)t->duration_ns);
	v->prev = e->t;
	if ((k == 0) != (e->kind == TEV_THREAD_BEGIN))
		BAD(k == 0 ? "the first event must be thread_begin, got %s"
			   : "%s in the middle of the stream", kn);
	if ((k == n - 1) != (e->kind == TEV_THREAD_END))
		BAD(k == n - 1 ? "the last event must be thread_end, got %s"
			       : "%s in the middle of the stream", kn);
	if (v->expect >= 0 && (e->kind != (uint32_t)v->expect ||
			       (e->kind == TEV_LOCK_ACQ && e->arg != v->expect_arg)))
		BAD("expected %s, got %s", tev_kind_names[v->expect], kn);
	v->expect = -1;
	uint32_t prev_kind = v->prev_kind;
	v->prev_kind = e->kind;
	switch (e->kind) {
	case TEV_FORK:
		v->expect = TEV_REGION_BEGIN;
		break;
	case TEV_REGION_BEGIN:
		if (v->nheld)
			BAD("region_begin while holding lock %u", v->held[v->nheld - 1]);
		if (++v->depth > 64)
			BAD("parallel regions nested more than 64 deep");
		break;
	case TEV_REGION_END:
		if (v->depth == 0)
			BAD("region_end outside a parallel region");
		if (v->nheld)
			BAD("region_end while holding lock %u", v->held[v->nheld - 1]);
		v->depth--;
		break;
	case TEV_BARRIER_ENTER:
		if (e->arg >= TBAR_CLASSES)
			BAD("unknown barrier class %u", e->arg);
		if (v->nheld)
			BAD("barrier while holding lock %u", v->held[v->nheld - 1]);
		v->expect = TEV_BARRIER_EXIT;
		break;
	case TEV_LOCK_REQ:
	case TEV_LOCK_ACQ:
	case TEV_LOCK_REL:
		if (e->arg >= t->nlocks)
			BAD("%s of lock %u, but the trace defines %u locks", kn, e->arg, t->nlocks);
		if (e->kind == TEV_LOCK_REQ) {
			for (int h = 0; h < v->nheld; h++)
				if (v->held[h] == e->arg)
					BAD("lock_request of lock %u, already held", e->arg);
			v->expect = TEV_LOCK_ACQ;
			v->expect_arg = e->arg;
		} else if (e->kind == TEV_LOCK_ACQ) {
			if (k == 0 || prev_kind != TEV_LOCK_REQ)
				BAD("lock_acquire without lock_request");
			if (v->nheld == TRACE_MAX_LOCK_DEPTH)
				BAD("more than %d locks held at once", TRACE_MAX_LOCK_DEPTH);
			v->held[v->nheld++] = e->arg;
		} else {
			int h = 0;
			while (h < v->nheld && v->held[h] != e->arg)
				h++;
			if (h == v->nheld)
				BAD("lock_release of lock %u, which the thread does not hold", e->arg);
			memmove(&v->held[h], &v->held[h + 1],
				(size_t)(v->nheld - h - 1) * sizeof *v->held);
			v->nheld--;
		}
		break;
	case TEV_THREAD_END:
		if (v->nheld)
			BAD("thread ends holding lock %u", v->held[v->nheld - 1]);
		if (v->depth)
			BAD("thread ends inside a parallel region");
		break;
	default:
		break;
	}
#undef BAD
	return 0;
}

static int check_header(const struct trace *t, char *err, size_t errlen)
{
	if (t->nthreads < 1) {
		fmt_err(err, errlen, "the trace has no threads");
		return -1;
	}
	for (uint32_t l = 0; l < t->nlocks; l++)
		if (t->locks[l].cls >= TLOCK_CLASSES) {
			fmt_err(err, errlen, "lock %u: unknown lock class %u", l, t->locks[l].cls);
			return -1;
		}
	return 0;
}

static int too_short(size_t n, int i, char *err, size_t errlen)
{
	if (n >= 2)
		return 0;
	fmt_err(err, errlen, "thread %d: %zu events; every thread needs at least "
		"thread_begin and thread_end", i, n);
	return -1;
}

int trace_validate(const struct trace *t, char *err, size_t errlen)
{
	if (check_header(t, err, errlen) < 0)
		return -1;
	for (int i = 0; i < t->nthreads; i++) {
		const struct trace_thread *th = &t->threads[i];
		if (too_short(th->n, i, err, errlen) < 0)
			return -1;
		struct tv v;
		tv_init(&v);
		char d[256];
		for (size_t k = 0; k < th->n; k++)
			if (tv_event(&v, t, &th->ev[k], k, th->n, d, sizeof d) < 0) {
				fmt_err(err, errlen, "thread %d, event %zu: %s", i, k, d);
				return -1;
			}
	}
	return 0;
}

/* ---------------------------------------------------------------- encoding */

/* CRC-32 (IEEE 802.3, reflected polynomial 0xEDB88320), as in zlib and PNG, eight
 * bytes a step ("slicing-by-8", Kounavis and Berry, "A Systematic Approach to
 * Building High Performance Software-based CRC Generators", ISCC 2005): table k
 * gives the CRC of a byte followed by k zero bytes. Byte at a time, the check was
 * a third of loading a trace; the tables (8 KiB) are built per call, a few us.
 * c is the running register (~0 at the start; the CRC is its complement). */
static uint32_t crc32_tables(const unsigned char *p, size_t n, uint32_t c)
{
	uint32_t tab[8][256];
	for (uint32_t i = 0; i < 256; i++) {
		uint32_t c = i;
		for (int k = 0; k < 8; k++)
			c = c & 1 ? 0xEDB88320u ^ (c >> 1) : c >> 1;
		tab[0][i] = c;
	}
	for (uint32_t i = 0; i < 256; i++)
		for (int k = 1; k < 8; k++)
			tab[k][i] = (tab[k - 1][i] >> 8) ^ tab[0][tab[k - 1][i] & 0xFF];
	size_t i = 0;
	for (; i + 8 <= n; i += 8) {
		uint32_t lo = c ^ ((uint32_t)p[i] | (uint32_t)p[i + 1] << 8 |
				   (uint32_t)p[i + 2] << 16 | (uint32_t)p[i + 3] << 24);
		c = tab[7][lo & 0xFF] ^ tab[6][(lo >> 8) & 0xFF] ^ tab[5][(lo >> 16) & 0xFF] ^
		    tab[4][lo >> 24] ^ tab[3][p[i + 4]] ^ tab[2][p[i + 5]] ^ tab[1][p[i + 6]] ^
		    tab[0][p[i + 7]];
	}
	for (; i < n; i++)
		c = tab[0][(c ^ p[i]) & 0xFF] ^ (c >> 8);
	return c;
}

#if defined(__x86_64__) && defined(__GNUC__)
#include <cpuid.h>
#include <immintrin.h>
#include <stdatomic.h>
/* The same CRC folded 64 bytes a step with carry-less multiplication (PCLMULQDQ),
 * as in Gopal, Ozturk et al., "Fast CRC Computation for Generic Polynomials Using
 * PCLMULQDQ Instruction" (Intel, 2009), whose constants for this polynomial are
 * those of zlib's x86 SIMD CRC (Chromium, crc32_simd.c) and Linux's
 * arch/x86/crypto/crc32-pclmul_asm.S: x^(k) mod P(x), bit-reflected. n >= 64 and a
 * multiple of 16; returns the register after p. ~10x the tables' speed: the CRC
 * had become a sixth of loading a trace (issue 15). tests/test_trace_format.c
 * compares it with the tables at every length and alignment up to 600 bytes. */
__attribute__((target("pclmul,sse4.1")))
static uint32_t crc32_clmul(const unsigned char *p, size_t n, uint32_t c)
{
	const __m128i k1k2 = _mm_set_epi64x(0x01c6e41596, 0x0154442bd4);
	const __m128i k3k4 = _mm_set_epi64x(0x00ccaa009e, 0x01751997d0);
	const __m128i k5k0 = _mm_set_epi64x(0, 0x0163cd6124);
	const __m128i poly = _mm_set_epi64x(0x01f7011641, 0x01db710641);
	__m128i x0, x1, x2, x3, x4, x5, x6, x7, x8;
	x1 = _mm_loadu_si128((const __m128i *)(p + 0x00));
	x2 = _mm_loadu_si128((const __m128i *)(p + 0x10));
	x3 = _mm_loadu_si128((const __m128i *)(p + 0x20));
	x4 = _mm_loadu_si128((const __m128i *)(p + 0x30));
	x1 = _mm_xor_si128(x1, _mm_cvtsi32_si128((int)c));
	x0 = k1k2;
	p += 64;
	n -= 64;
	for (; n >= 64; p += 64, n -= 64) {   /* four lanes folded 512 bits ahead */
		x5 = _mm_clmulepi64_si128(x1, x0, 0x00);
		x6 = _mm_clmulepi64_si128(x2, x0, 0x00);
		x7 = _mm_clmulepi64_si128(x3, x0, 0x00);
		x8 = _mm_clmulepi64_si128(x4, x0, 0x00);
		x1 = _mm_clmulepi64_si128(x1, x0, 0x11);
		x2 = _mm_clmulepi64_si128(x2, x0, 0x11);
		x3 = _mm_clmulepi64_si128(x3, x0, 0x11);
		x4 = _mm_clmulepi64_si128(x4, x0, 0x11);
		x1 = _mm_xor_si128(_mm_xor_si128(x1, x5), _mm_loadu_si128((const __m128i *)(p + 0x00)));
		x2 = _mm_xor_si128(_mm_xor_si128(x2, x6), _mm_loadu_si128((const __m128i *)(p + 0x10)));
		x3 = _mm_xor_si128(_mm_xor_si128(x3, x7), _mm_loadu_si128((const __m128i *)(p + 0x20)));
		x4 = _mm_xor_si128(_mm_xor_si128(x4, x8), _mm_loadu_si128((const __m128i *)(p + 0x30)));
	}
	/* the four lanes into one, 128 bits ahead each */
	x0 = k3k4;
	x5 = _mm_clmulepi64_si128(x1, x0, 0x00);
	x1 = _mm_clmulepi64_si128(x1, x0, 0x11);
	x1 = _mm_xor_si128(_mm_xor_si128(x1, x2), x5);
	x5 = _mm_clmulepi64_si128(x1, x0, 0x00);
	x1 = _mm_clmulepi64_si128(x1, x0, 0x11);
	x1 = _mm_xor_si128(_mm_xor_si128(x1, x3), x5);
	x5 = _mm_clmulepi64_si128(x1, x0, 0x00);
	x1 = _mm_clmulepi64_si128(x1, x0, 0x11);
	x1 = _mm_xor_si128(_mm_xor_si128(x1, x4), x5);
	for (; n >= 16; p += 16, n -= 16) {
		x2 = _mm_loadu_si128((const __m128i *)p);
		x5 = _mm_clmulepi64_si128(x1, x0, 0x00);
		x1 = _mm_clmulepi64_si128(x1, x0, 0x11);
		x1 = _mm_xor_si128(_mm_xor_si128(x1, x2), x5);
	}
	/* 128 bits to 64, then Barrett reduction to 32 */
	x2 = _mm_clmulepi64_si128(x1, x0, 0x10);
	x3 = _mm_setr_epi32(~0, 0, ~0, 0);
	x1 = _mm_srli_si128(x1, 8);
	x1 = _mm_xor_si128(x1, x2);
	x0 = k5k0;
	x2 = _mm_srli_si128(x1, 4);
	x1 = _mm_and_si128(x1, x3);
	x1 = _mm_clmulepi64_si128(x1, x0, 0x00);
	x1 = _mm_xor_si128(x1, x2);
	x0 = poly;
	x2 = _mm_and_si128(x1, x3);
	x2 = _mm_clmulepi64_si128(x2, x0, 0x10);
	x2 = _mm_and_si128(x2, x3);
	x2 = _mm_clmulepi64_si128(x2, x0, 0x00);
	x1 = _mm_xor_si128(x1, x2);
	return (uint32_t)_mm_extract_epi32(x1, 1);
}

/* CPUID leaf 1, ECX: bit 1 PCLMULQDQ, bit 19 SSE4.1. Asked once per process: in a
 * virtual machine CPUID traps to the hypervisor (~9 us each on the development
 * VM, where two per load were a twentieth of a small trace's loading). */
static int have_clmul(void)
{
	static _Atomic int known;   /* 0 not asked yet, 1 no, 2 yes */
	int k = atomic_load_explicit(&known, memory_order_relaxed);
	if (!k) {
		unsigned a, b, c, d;
		__cpuid(1, a, b, c, d);
		(void)a, (void)b, (void)d;
		k = (c & (1u << 1)) && (c & (1u << 19)) ? 2 : 1;
		atomic_store_explicit(&known, k, memory_order_relaxed);
	}
	return k == 2;
}
#endif

static uint32_t crc32_bits(const unsigned char *p, size_t n, uint32_t c)
{
	for (size_t i = 0; i < n; i++) {
		c ^= p[i];
		for (int k = 0; k < 8; k++)
			c = c & 1 ? 0xEDB88320u ^ (c >> 1) : c >> 1;
	}
	return c;
}

/* fast 0: the tables only (for the test that compares the ways). Under 256 bytes a
 * bit at a time: building the tables costs more. */
static uint32_t crc32_ieee_(const unsigned char *p, size_t n, int fast)
{
	uint32_t c = 0xFFFFFFFFu;
	if (fast && n < 256)
		return crc32_bits(p, n, c) ^ 0xFFFFFFFFu;
#if defined(__x86_64__) && defined(__GNUC__)
	if (fast && have_clmul()) {
		size_t m = n & ~(size_t)15;
		c = crc32_clmul(p, m, c);
		return crc32_bits(p + m, n - m, c) ^ 0xFFFFFFFFu;   /* the last 0-15 bytes */
	}
#endif
	return crc32_tables(p, n, c) ^ 0xFFFFFFFFu;
}

static uint32_t crc32_ieee(const unsigned char *p, size_t n)
{
	return crc32_ieee_(p, n, 1);
}

uint32_t trace_crc32(const unsigned char *p, size_t n, int fast)
{
	return crc32_ieee_(p, n, fast);
}

struct obuf {
	unsigned char *p;
	size_t n, cap;
	int oom;
};

static void put_bytes(struct obuf *o, const void *src, size_t n)
{
	if (o->oom)
		return;
	if (o->n + n > o->cap) {
		size_t cap = o->cap ? o->cap : 4096;
		while (cap < o->n + n)
			cap *= 2;
		unsigned char *p = realloc(o->p, cap);
		if (!p) {
			o->oom = 1;
			return;
		}
		o->p = p;
		o->cap = cap;
	}
	memcpy(o->p + o->n, src, n);
	o->n += n;
}

static void put_uv(struct obuf *o, uint64_t v)
{
	unsigned char b[10];
	int n = 0;
	do {
		b[n] = v & 0x7F;
		v >>= 7;
		if (v)
			b[n] |= 0x80;
		n++;
	} while (v);
	put_bytes(o, b, (size_t)n);
}

static void put_le(struct obuf *o, uint64_t v, int bytes)
{
	unsigned char b[8];
	for (int i = 0; i < bytes; i++)
		b[i] = (unsigned char)(v >> (8 * i));
	put_bytes(o, b, (size_t)bytes);
}

static void put_str(struct obuf *o, const char *s)
{
	size_t n = s ? strlen(s) : 0;
	if (n > TRACE_MAX_STRING)
		n = TRACE_MAX_STRING;
	put_uv(o, n);
	put_bytes(o, s, n);
}

int trace_encode(const struct trace *t, unsigned char **buf, size_t *len)
{
	struct obuf o = { 0 };
	/* the lowest version that holds it: without tlb_flush events, version 1 */
	uint32_t version = 1;
	for (int i = 0; i < t->nthreads && version == 1; i++)
		for (size_t k = 0; k < t->threads[i].n; k++)
			if (t->threads[i].ev[k].kind == TEV_TLB_FLUSH) {
				version = 2;
				break;
			}
	put_bytes(&o, TRACE_MAGIC, 8);
	put_le(&o, version, 4);
	put_le(&o, 0, 8);               /* total length, patched below */
	put_uv(&o, (uint64_t)t->nthreads);
	put_uv(&o, t->nlocks);
	put_str(&o, t->clock);
	put_str(&o, t->program);
	put_str(&o, t->host);
	put_uv(&o, t->start_unix_ns);
	put_uv(&o, t->duration_ns);
	for (uint32_t l = 0; l < t->nlocks; l++) {
		put_uv(&o, t->locks[l].cls);
		put_str(&o, t->locks[l].name);
	}
	for (int i = 0; i < t->nthreads; i++) {
		const struct trace_thread *th = &t->threads[i];
		put_uv(&o, th->n);
		uint64_t prev = 0;
		for (size_t k = 0; k < th->n; k++) {
			const struct trace_event *e = &th->ev[k];
			unsigned char kind = (unsigned char)e->kind;
			put_bytes(&o, &kind, 1);
			put_uv(&o, e->t >= prev ? e->t - prev : 0);
			prev = e->t;
			if (has_arg(e->kind))
				put_uv(&o, e->arg);
		}
	}
	if (o.oom) {
		free(o.p);
		return -1;
	}
	uint64_t total = o.n + 4;
	for (int i = 0; i < 8; i++)
		o.p[12 + i] = (unsigned char)(total >> (8 * i));
	put_le(&o, crc32_ieee(o.p, o.n), 4);
	if (o.oom) {
		free(o.p);
		return -1;
	}
	*buf = o.p;
	*len = o.n;
	return 0;
}

/* ---------------------------------------------------------------- decoding */

struct ibuf {
	const unsigned char *p;
	size_t n, off;
	int bad;
	char what[160];
};

static void in_fail(struct ibuf *in, const char *what)
{
	if (!in->bad) {
		in->bad = 1;
		snprintf(in->what, sizeof in->what, "malformed at byte %zu: %s", in->off, what);
	}
}

static inline uint64_t get_uv(struct ibuf *in, const char *what)
{
	uint64_t v = 0;
	for (int shift = 0; shift < 64; shift += 7) {
		if (in->bad)
			return 0;
		if (in->off >= in->n) {
			in_fail(in, what);
			return 0;
		}
		unsigned char b = in->p[in->off++];
		if (shift == 63 && b > 1) {
			in_fail(in, what);
			return 0;
		}
		v |= (uint64_t)(b & 0x7F) << shift;
		if (!(b & 0x80))
			return v;
	}
	in_fail(in, what);
	return 0;
}

static uint64_t get_le(const unsigned char *p, int bytes)
{
	uint64_t v = 0;
	for (int i = 0; i < bytes; i++)
		v |= (uint64_t)p[i] << (8 * i);
	return v;
}

static char *get_str(struct ibuf *in, const char *what)
{
	uint64_t n = get_uv(in, what);
	if (in->bad)
		return NULL;
	if (n > TRACE_MAX_STRING || n > in->n - in->off) {
		in_fail(in, what);
		return NULL;
	}
	char *s = malloc((size_t)n + 1);
	if (!s) {
		in_fail(in, "out of memory");
		return NULL;
	}
	memcpy(s, in->p + in->off, (size_t)n);
	s[n] = 0;
	in->off += (size_t)n;
	if (memchr(s, 0, (size_t)n)) {
		free(s);
		in_fail(in, what);
		return NULL;
	}
	return s;
}

/* Checks the magic, version, length and CRC and decodes everything before the
 * streams: returns the trace (no threads yet) with in at the first stream, or NULL
 * with a message. */
static struct trace *decode_head(const unsigned char *buf, size_t len, const char *name,
				 char *err, size_t errlen, struct ibuf *in, uint64_t *nthreads)
{
	const size_t hdr = 8 + 4 + 8;
	if (len == 0) {
		fmt_err(err, errlen, "%s: empty file, expected a vcpusim trace", name);
		return NULL;
	}
	if (memcmp(buf, TRACE_MAGIC, len < 8 ? len : 8) != 0) {
		fmt_err(err, errlen, "%s: not a vcpusim trace (bad magic number); expected a "
			"file written by `vcpusim capture` or an OTF2 anchor file (*.otf2)", name);
		return NULL;
	}
	if (len < hdr + 4) {
		fmt_err(err, errlen, "%s: truncated: %zu bytes, shorter than the %zu-byte header",
			name, len, hdr + 4);
		return NULL;
	}
	uint32_t version = (uint32_t)get_le(buf + 8, 4);
	if (version < 1 || version > TRACE_VERSION) {
		fmt_err(err, errlen, "%s: unsupported trace format version %u (this build reads "
			"versions 1 to %d)", name, version, TRACE_VERSION);
		return NULL;
	}
	uint64_t total = get_le(buf + 12, 8);
	if (total > len) {
		fmt_err(err, errlen, "%s: truncated: the header says %llu bytes, the file has %zu",
			name, (unsigned long long)total, len);
		return NULL;
	}
	if (total < len) {
		fmt_err(err, errlen, "%s: corrupt: the header says %llu bytes, the file has %zu",
			name, (unsigned long long)total, len);
		return NULL;
	}
	uint32_t stored = (uint32_t)get_le(buf + len - 4, 4);
	uint32_t crc = crc32_ieee(buf, len - 4);
	if (stored != crc) {
		fmt_err(err, errlen, "%s: corrupt: checksum mismatch (stored %08x, computed %08x)",
			name, stored, crc);
		return NULL;
	}

	*in = (struct ibuf){ .p = buf, .n = len - 4, .off = hdr };
	struct trace *t = trace_new();
	if (!t) {
		fmt_err(err, errlen, "%s: out of memory", name);
		return NULL;
	}
	t->version = version;
	*nthreads = get_uv(in, "thread count");
	uint64_t nlocks = get_uv(in, "lock count");
	if (!in->bad && (*nthreads > TRACE_MAX_THREADS || *nthreads > in->n - in->off))
		in_fail(in, "thread count out of range");
	if (!in->bad && (nlocks > TRACE_MAX_LOCKS || nlocks > in->n - in->off))
		in_fail(in, "lock count out of range");
	/* sized by the header's counts, so that adding them never reallocates */
	if (!in->bad) {
		t->threads = calloc(*nthreads ? (size_t)*nthreads : 1, sizeof *t->threads);
		t->locks = calloc(nlocks ? (size_t)nlocks : 1, sizeof *t->locks);
		if (!t->threads || !t->locks)
			in_fail(in, "out of memory");
	}
	t->clock = get_str(in, "clock string");
	t->program = get_str(in, "program string");
	t->host = get_str(in, "host string");
	t->start_unix_ns = get_uv(in, "start time");
	t->duration_ns = get_uv(in, "duration");
	if (!in->bad && t->duration_ns > ((uint64_t)1 << 62))
		in_fail(in, "duration out of range");
	for (uint64_t l = 0; l < nlocks && !in->bad; l++) {
		uint64_t cls = get_uv(in, "lock class");
		char *lname = get_str(in, "lock name");
		if (!in->bad) {   /* the header's count: trace_add_lock's realloc is a no-op */
			t->locks[l].cls = (uint32_t)(cls > TLOCK_CLASSES ? TLOCK_CLASSES : cls);
			t->locks[l].name = lname;
			t->nlocks++;
		} else
			free(lname);
	}
	return t;
}

/* The next event of a stream (checked reads); its time is *now + dt. */
static void get_event(struct ibuf *in, uint64_t *now, struct trace_event *e)
{
	if (in->off >= in->n) {
		in_fail(in, "event kind");
		return;
	}
	uint32_t kind = in->p[in->off++];
	uint64_t dt = get_uv(in, "event time");
	if (dt > ((uint64_t)1 << 62) || *now + dt > ((uint64_t)1 << 62))
		in_fail(in, "event time out of range");
	*now += dt;
	uint64_t arg = has_arg(kind) ? get_uv(in, "event argument") : 0;
	if (arg > UINT32_MAX)
		in_fail(in, "event argument out of range");
	*e = (struct trace_event){ *now, kind, (uint32_t)arg };
}

/* The streams: materialised into t's threads (offsets NULL), or only checked, each
 * event as it is read, with each stream's start recorded in offsets. */
static int decode_streams(struct ibuf *in, struct trace *t, uint64_t nthreads, size_t *offsets,
			  trace_event_fn each, void *ctx, char *why, size_t whyn)
{
	if (each)
		each(ctx, t, (int)nthreads, NULL, 0);
	for (uint64_t i = 0; i < nthreads && !in->bad; i++) {
		struct trace_thread *th = &t->threads[i];
		t->nthreads++;
		uint64_t n = get_uv(in, "event count");
		if (!in->bad && n > (in->n - in->off) / 2)  /* an event takes >= 2 bytes */
			in_fail(in, "event count larger than the rest of the file");
		if (in->bad)
			break;
		uint64_t now = 0;
		struct trace_event e;
		if (!offsets) {
			th->ev = malloc((n ? (size_t)n : 1) * sizeof *th->ev);
			if (!th->ev) {
				in_fail(in, "out of memory");
				break;
			}
			th->cap = n ? (size_t)n : 1;
			for (uint64_t k = 0; k < n && !in->bad; k++) {
				get_event(in, &now, &e);
				th->ev[th->n++] = e;
			}
			continue;
		}
		/* checked as read: the same rules as trace_validate */
		offsets[i] = in->off;
		th->n = (size_t)n;
		if (too_short(th->n, (int)i, why, whyn) < 0)
			return -1;
		struct tv v;
		tv_init(&v);
		char d[256];
		struct trace_event batch[256];
		size_t nb = 0;
		for (uint64_t k = 0; k < n && !in->bad; k++) {
			get_event(in, &now, &batch[nb]);
			if (in->bad)
				break;
			if (tv_event(&v, t, &batch[nb], (size_t)k, (size_t)n, d, sizeof d) < 0) {
				snprintf(why, whyn, "thread %d, event %zu: %s", (int)i, (size_t)k, d);
				return -1;
			}
			if (++nb == sizeof batch / sizeof *batch) {
				if (each)
					each(ctx, t, (int)i, batch, nb);
				nb = 0;
			}
		}
		if (each && nb && !in->bad)
			each(ctx, t, (int)i, batch, nb);
	}
	if (!in->bad && in->off != in->n)
		in_fail(in, "unexpected bytes after the last thread");
	return 0;
}

static struct trace *decode(const unsigned char *buf, size_t len, const char *name,
			    char *err, size_t errlen, size_t **offsets, trace_event_fn each,
			    void *ctx)
{
	struct ibuf in;
	uint64_t nthreads = 0;
	struct trace *t = decode_head(buf, len, name, err, errlen, &in, &nthreads);
	if (!t)
		return NULL;
	char why[400] = "";
	size_t *off = NULL;
	if (offsets && !in.bad && !(off = calloc((size_t)nthreads + 1, sizeof *off)))
		in_fail(&in, "out of memory");
	int invalid = 0;
	if (!in.bad)
		invalid = decode_streams(&in, t, nthreads, off, each, ctx, why, sizeof why) < 0;
	if (in.bad) {
		fmt_err(err, errlen, "%s: corrupt: %s", name, in.what);
		trace_free(t);
		free(off);
		return NULL;
	}
	trace_set_str(&t->format, "vcpusim");
	if (invalid || (offsets ? check_header(t, why, sizeof why)
				: trace_validate(t, why, sizeof why)) < 0) {
		fmt_err(err, errlen, "%s: invalid trace: %s", name, why);
		trace_free(t);
		free(off);
		return NULL;
	}
	if (offsets)
		*offsets = off;
	return t;
}

struct trace *trace_decode_header(const unsigned char *buf, size_t len, size_t *first,
				  uint64_t *nthreads)
{
	struct ibuf in;
	char err[8];
	struct trace *t = decode_head(buf, len, "", err, sizeof err, &in, nthreads);
	int bad = t && (in.bad || *nthreads < 1);
	for (uint32_t l = 0; t && !bad && l < t->nlocks; l++)
		bad = t->locks[l].cls >= TLOCK_CLASSES;   /* check_header's rule */
	if (bad) {
		trace_free(t);
		t = NULL;
	}
	*first = t ? in.off : 0;
	return t;
}

struct trace *trace_decode(const unsigned char *buf, size_t len, const char *name,
			   char *err, size_t errlen)
{
	return decode(buf, len, name, err, errlen, NULL, NULL, NULL);
}

struct trace *trace_decode_lazy(const unsigned char *buf, size_t len, const char *name,
				char *err, size_t errlen, size_t **offsets, trace_event_fn each,
				void *ctx)
{
	return decode(buf, len, name, err, errlen, offsets, each, ctx);
}

int trace_write_file(const struct trace *t, const char *path, char *err, size_t errlen)
{
	unsigned char *buf;
	size_t len;
	if (trace_encode(t, &buf, &len) < 0) {
		fmt_err(err, errlen, "%s: out of memory while encoding the trace", path);
		return -1;
	}
	/* temp file and rename, or straight through for stdout and devices */
	int ok = write_file_atomic(path, (const char *)buf, len) == 0;
	if (!ok)
		fmt_err(err, errlen, "%s: cannot write the trace: %s", path, strerror(errno));
	free(buf);
	return ok ? 0 : -1;
}
