/* test_trace_format.c: the trace file format and its reader (traces/FORMAT.md):
 * round trip, and rejection of empty, truncated, bit-flipped and structurally
 * invalid traces with a message, never a crash (run under ASan by make test-asan);
 * also the conversion into replay programs (traces/replay.h), and version 2's
 * tlb_flush events (written only when present; a shootdown in the replay); the two
 * loading paths (fast and reference) agree on every mutated trace, and the CRC by
 * carry-less multiplication equals the tables'. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "traces/replay.h"

static int failures;
#define CHECK(c) do { if (!(c)) { fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, \
	__LINE__, #c); failures++; } } while (0)

/* Two threads, one region: 2 explicit barriers, each thread takes lock 0 twice and
 * thread 1 nests lock 1 inside lock 0 once. Times in ns. */
static struct trace *sample(void)
{
	struct trace *t = trace_new();
	trace_set_str(&t->clock, "CLOCK_MONOTONIC ns");
	trace_set_str(&t->program, "sample");
	trace_set_str(&t->host, "test");
	t->duration_ns = 10000;
	trace_add_lock(t, TLOCK_OMP, "omp_lock#0");
	trace_add_lock(t, TLOCK_MUTEX, "pthread_mutex#0");
	for (int i = 0; i < 2; i++) {
		int idx = trace_add_thread(t);
		struct trace_thread *th = &t->threads[idx];
		uint64_t now = 0;
#define EV(dt, k, a) do { now += (dt); trace_push(th, now, (k), (a)); } while (0)
		EV(0, TEV_THREAD_BEGIN, 0);
		if (i == 0) {
			EV(1000, TEV_FORK, 0);   /* 1000 ns serial compute */
			EV(10, TEV_REGION_BEGIN, 2);
		} else {
			EV(1010, TEV_REGION_BEGIN, 2);
		}
		for (int b = 0; b < 2; b++) {
			EV(500, TEV_BARRIER_ENTER, TBAR_EXPLICIT);
			EV(100, TEV_BARRIER_EXIT, 0);
		}
		for (int l = 0; l < 2; l++) {
			EV(200, TEV_LOCK_REQ, 0);
			EV(50, TEV_LOCK_ACQ, 0);
			if (i == 1 && l == 1) {
				EV(10, TEV_LOCK_REQ, 1);
				EV(10, TEV_LOCK_ACQ, 1);
				EV(10, TEV_LOCK_REL, 1);
			}
			EV(30, TEV_LOCK_REL, 0);
		}
		EV(300, TEV_REGION_END, 0);
		if (i == 0) {
			EV(40, TEV_JOIN, 0);
			EV(700, TEV_THREAD_END, 0);
		} else {
			EV(0, TEV_THREAD_END, 0);
		}
#undef EV
	}
	return t;
}

static int same(const struct trace *a, const struct trace *b)
{
	if (a->nthreads != b->nthreads || a->nlocks != b->nlocks ||
	    a->duration_ns != b->duration_ns || strcmp(a->program, b->program) ||
	    strcmp(a->host, b->host) || strcmp(a->clock, b->clock))
		return 0;
	for (uint32_t l = 0; l < a->nlocks; l++)
		if (a->locks[l].cls != b->locks[l].cls || strcmp(a->locks[l].name, b->locks[l].name))
			return 0;
	for (int i = 0; i < a->nthreads; i++) {
		if (a->threads[i].n != b->threads[i].n)
			return 0;
		for (size_t k = 0; k < a->threads[i].n; k++) {
			const struct trace_event *x = &a->threads[i].ev[k], *y = &b->threads[i].ev[k];
			if (x->t != y->t || x->kind != y->kind || x->arg != y->arg)
				return 0;
		}
	}
	return 1;
}

static void test_round_trip(void)
{
	struct trace *t = sample();
	char err[512];
	CHECK(trace_validate(t, err, sizeof err) == 0);
	unsigned char *buf;
	size_t len;
	CHECK(trace_encode(t, &buf, &len) == 0);
	CHECK(buf[8] == 1);   /* no tlb_flush event: version 1, as older builds read */
	struct trace *u = trace_decode(buf, len, "x.vtr", err, sizeof err);
	CHECK(u != NULL);
	if (u)
		CHECK(same(t, u));
	trace_free(u);

	/* empty */
	CHECK(!trace_decode(buf, 0, "x.vtr", err, sizeof err) && strstr(err, "x.vtr: empty"));
	/* every truncation */
	for (size_t n = 1; n < len; n++) {
		err[0] = 0;
		struct trace *v = trace_decode(buf, n, "x.vtr", err, sizeof err);
		CHECK(v == NULL);
		CHECK(!strncmp(err, "x.vtr: ", 7));
		if (n >= 24)
			CHECK(strstr(err, "truncated") != NULL);
		trace_free(v);
	}
	/* every single-bit flip */
	for (size_t i = 0; i < len; i++)
		for (int bit = 0; bit < 8; bit++) {
			buf[i] ^= (unsigned char)(1 << bit);
			err[0] = 0;
			struct trace *v = trace_decode(buf, len, "x.vtr", err, sizeof err);
			CHECK(v == NULL && !strncmp(err, "x.vtr: ", 7));
			trace_free(v);
			buf[i] ^= (unsigned char)(1 << bit);
		}
	/* trailing garbage */
	unsigned char *big = malloc(len + 3);
	memcpy(big, buf, len);
	memset(big + len, 0, 3);
	CHECK(!trace_decode(big, len + 3, "x.vtr", err, sizeof err) && strstr(err, "corrupt"));
	free(big);
	/* not a trace */
	CHECK(!trace_decode((const unsigned char *)"{\"json\": 1}", 11, "y", err, sizeof err) &&
	      strstr(err, "not a vcpusim trace"));
	/* a future version */
	buf[8] = 9;
	CHECK(!trace_decode(buf, len, "x.vtr", err, sizeof err) && strstr(err, "version 9"));
	free(buf);
	trace_free(t);
}

/* Random bytes behind a valid header and checksum: the parser must bound every
 * read and the validator must catch nonsense. */
static uint32_t crc(const unsigned char *p, size_t n)
{
	uint32_t c = 0xFFFFFFFFu;
	for (size_t i = 0; i < n; i++) {
		c ^= p[i];
		for (int k = 0; k < 8; k++)
			c = c & 1 ? 0xEDB88320u ^ (c >> 1) : c >> 1;
	}
	return c ^ 0xFFFFFFFFu;
}

/* The two ways of loading a trace as programs (trace_replay.c: the fused fast path,
 * and the reference checks and walk it falls back to) accept the same buffers with
 * the same programs, and refuse the same with the same message; at scales that
 * move cnt_compute's threshold. */
static void same_paths(const unsigned char *b, size_t len, int round)
{
	static const double scales[] = { 1.0, 1.5, 1e-3, 0.0371, 1e-6, 1e6 };
	double scale = scales[round % 6];
	unsigned char *b1 = malloc(len), *b2 = malloc(len);
	memcpy(b1, b, len);
	memcpy(b2, b, len);
	struct trace_program p1, p2;
	char e1[512] = "", e2[512] = "";
	int r1 = trace_program_from_buffer(b1, len, "f", scale, 0, &p1, e1, sizeof e1);
	int r2 = trace_program_from_buffer(b2, len, "f", scale, 1, &p2, e2, sizeof e2);
	CHECK(r1 == r2);
	if (r1 == 0 && r2 == 0) {
		CHECK(trace_program_same(&p1, &p2));
		trace_program_free(&p1);
		trace_program_free(&p2);
	} else if (r1 < 0 && r2 < 0) {
		CHECK(!strcmp(e1, e2));
	} else {
		fprintf(stderr, "round %d: fast %d (%s), reference %d (%s)\n", round, r1, e1, r2, e2);
		if (r1 == 0)
			trace_program_free(&p1);
		if (r2 == 0)
			trace_program_free(&p2);
	}
}

/* Event-level mutations of the sample (kinds, arguments, times, counts), encoded
 * with a valid CRC: most break a structural rule somewhere, which byte flips reach
 * too rarely; the two loading paths must agree on each. */
static void test_paths_events(void)
{
	/* each rule broken alone, in both threads alike (so that the barrier counts
	 * agree): B thread_begin, E thread_end, f fork, j join, R region_begin, D
	 * region_end, e barrier_enter, x barrier_exit, q a r request, acquire, release
	 * lock 0, Q A L lock 1, t tlb_flush; valid or not */
	static const struct { const char *ev; int ok; } cases[] = {
		{ "BqarE", 1 }, { "BqaexrE", 0 }, { "BqaRDrE", 0 }, { "BRqaDrE", 0 },
		{ "BqaE", 0 }, { "BRE", 0 }, { "BqaQArLE", 1 }, { "BqaqarE", 0 },
		{ "BqQaAE", 0 }, { "BaE", 0 }, { "BfjE", 0 }, { "BfRDjE", 1 }, { "BexE", 1 },
		{ "BeE", 0 }, { "BxE", 1 }, { "BtE", 1 }, { "BqatrE", 1 }, { "BDE", 0 },
		{ "BrE", 0 }, { "BqrE", 0 }, { "BEE", 0 }, { "BBE", 0 }, { "BqaLE", 0 },
		{ "BQArE", 0 }, { "BRRDDE", 1 }, { "BqaQAtLrE", 1 }, { "BqaQALrtE", 1 },
		{ "BqaRrDE", 0 }, { "BDRE", 0 }, { "BqaerxE", 0 },
		/* an event that must follow another, missing at a stream's end */
		{ "BqE", 0 }, { "BfE", 0 }, { "BfxE", 0 }, { "BfRDjqE", 0 }, { "BqarfRDjeE", 0 },
		{ "BqarfRDjexE", 1 },
	};
	for (size_t c = 0; c < sizeof cases / sizeof *cases; c++) {
		struct trace *t = trace_new();
		trace_set_str(&t->clock, "CLOCK_MONOTONIC ns");
		trace_set_str(&t->program, "cases");
		trace_set_str(&t->host, "test");
		t->duration_ns = 1000;
		trace_add_lock(t, TLOCK_OMP, "a");
		trace_add_lock(t, TLOCK_OMP, "b");
		for (int i = 0; i < 2; i++) {
			int idx = trace_add_thread(t);   /* before t->threads: it reallocates */
			struct trace_thread *th = &t->threads[idx];
			uint64_t now = 0;
			for (const char *e = cases[c].ev; *e; e++) {
				const char *k = strchr("BEfjRDexqarQALt", *e);
				static const uint32_t kind[] = { TEV_THREAD_BEGIN, TEV_THREAD_END, TEV_FORK,
					TEV_JOIN, TEV_REGION_BEGIN, TEV_REGION_END, TEV_BARRIER_ENTER,
					TEV_BARRIER_EXIT, TEV_LOCK_REQ, TEV_LOCK_ACQ, TEV_LOCK_REL,
					TEV_LOCK_REQ, TEV_LOCK_ACQ, TEV_LOCK_REL, TEV_TLB_FLUSH };
				now += 10;
				trace_push(th, now, kind[k - "BEfjRDexqarQALt"], strchr("QAL", *e) ? 1 : 0);
			}
		}
		unsigned char *buf;
		size_t len;
		trace_encode(t, &buf, &len);
		for (int r = 0; r < 6; r++)
			same_paths(buf, len, r);
		unsigned char *b = malloc(len);
		memcpy(b, buf, len);
		struct trace_program p;
		char err[512];
		unsigned long fb = trace_program_fallbacks;
		int rc = trace_program_from_buffer(b, len, "f", 1.0, 0, &p, err, sizeof err);
		if ((rc == 0) != cases[c].ok)
			fprintf(stderr, "case %s: %s\n", cases[c].ev, rc ? err : "accepted");
		CHECK((rc == 0) == cases[c].ok);
		/* a valid trace is the fast path's own, without the reference path */
		CHECK(!cases[c].ok || trace_program_fallbacks == fb);
		if (rc == 0)
			trace_program_free(&p);
		free(buf);
		trace_free(t);
	}

	uint64_t x = 0x9E3779B97F4A7C15u;
	for (int round = 0; round < 30000; round++) {
		struct trace *t = sample();
		int muts = 1 + round % 3;
		for (int m = 0; m < muts; m++) {
			x ^= x << 13, x ^= x >> 7, x ^= x << 17;
			struct trace_thread *th = &t->threads[x % 2];
			size_t k = (size_t)((x >> 8) % th->n);
			struct trace_event *e = &th->ev[k];
			switch ((x >> 20) % 5) {
			case 0: e->kind = (uint32_t)((x >> 24) % TEV_KINDS); break;
			case 1: e->arg = (uint32_t)((x >> 24) % 4); break;
			case 2:   /* swap with the next event's kind and argument */
				if (k + 1 < th->n) {
					struct trace_event f = th->ev[k + 1];
					th->ev[k + 1].kind = e->kind;
					th->ev[k + 1].arg = e->arg;
					e->kind = f.kind;
					e->arg = f.arg;
				}
				break;
			case 3: th->n = k + 1; break;   /* cut the stream */
			default:
				e->kind = (uint32_t)((x >> 24) % TEV_KINDS);
				e->arg = (uint32_t)((x >> 40) % 3);
				if (k > 0)
					e->t = th->ev[k - 1].t + (x >> 50) % 700;
				break;
			}
		}
		if (round % 7 == 0)
			t->duration_ns = 3000 + (x >> 33) % 8000;
		unsigned char *buf;
		size_t len;
		if (trace_encode(t, &buf, &len) == 0) {
			same_paths(buf, len, round);
			free(buf);
		}
		trace_free(t);
	}
}

/* Times of every varint length (1 to 9 bytes) before every kind of event, so that
 * long events fall both where the fast path checks one bound per event and within
 * a stream's last 21 bytes, where it checks every byte, in nested and single
 * sections and runs of sections and of barriers (which the fast path reads without
 * its dispatch where 21 bytes remain): the fast path accepts the
 * trace on its own, and both paths build the same programs at every scale; cut
 * anywhere, both refuse it alike. */
static void test_paths_long_varints(void)
{
	static const uint64_t gaps[] = { 0, 1, 127, 128, 16383, 16384, (uint64_t)1 << 21,
					 (uint64_t)1 << 35, (uint64_t)1 << 49, (uint64_t)1 << 56 };
	const int ngaps = (int)(sizeof gaps / sizeof *gaps);
	for (int shift = 0; shift < ngaps; shift++) {
		struct trace *t = trace_new();
		trace_set_str(&t->clock, "CLOCK_MONOTONIC ns");
		trace_set_str(&t->program, "long");
		trace_set_str(&t->host, "test");
		t->duration_ns = (uint64_t)1 << 61;
		trace_add_lock(t, TLOCK_OMP, "a");
		trace_add_lock(t, TLOCK_OMP, "b");
		for (int i = 0; i < 2; i++) {
			int idx = trace_add_thread(t);
			struct trace_thread *th = &t->threads[idx];
			uint64_t now = 0;
			int g = shift;
#define LV(k, a) do { now += gaps[g++ % ngaps]; trace_push(th, now, (k), (a)); } while (0)
			LV(TEV_THREAD_BEGIN, 0);
			if (i == 0)
				LV(TEV_FORK, 0);
			LV(TEV_REGION_BEGIN, 2);
			for (int r = 0; r < 3; r++) {
				LV(TEV_LOCK_REQ, r % 2);
				LV(TEV_LOCK_ACQ, r % 2);
				LV(TEV_LOCK_REQ, 1 - r % 2);
				LV(TEV_LOCK_ACQ, 1 - r % 2);
				LV(TEV_TLB_FLUSH, 0);
				LV(TEV_LOCK_REL, r % 2);
				LV(TEV_LOCK_REL, 1 - r % 2);
				LV(TEV_TLB_FLUSH, 1);
				for (int twice = 0; twice < 2; twice++) {   /* runs of sections */
					LV(TEV_LOCK_REQ, r % 2);
					LV(TEV_LOCK_ACQ, r % 2);
					LV(TEV_LOCK_REL, r % 2);
				}
				for (int twice = 0; twice < 2; twice++) {   /* and of barriers */
					LV(TEV_BARRIER_ENTER, TBAR_EXPLICIT);
					LV(TEV_BARRIER_EXIT, 0);
				}
			}
			LV(TEV_REGION_END, 0);
			if (i == 0)
				LV(TEV_JOIN, 0);
			for (int twice = 0; twice < 2; twice++) {   /* within the last 21 bytes */
				LV(TEV_LOCK_REQ, 1);
				LV(TEV_LOCK_ACQ, 1);
				LV(TEV_LOCK_REL, 1);
			}
			LV(TEV_BARRIER_ENTER, TBAR_EXPLICIT);
			LV(TEV_BARRIER_EXIT, 0);
			LV(TEV_BARRIER_ENTER, TBAR_EXPLICIT);
			LV(TEV_BARRIER_EXIT, 0);
			LV(TEV_THREAD_END, 0);
#undef LV
		}
		unsigned char *buf;
		size_t len;
		CHECK(trace_encode(t, &buf, &len) == 0);
		unsigned long fb = trace_program_fallbacks;
		for (int r = 0; r < 6; r++)
			same_paths(buf, len, r);
		CHECK(trace_program_fallbacks == fb);
		/* cut short (the header's length and the CRC patched to match): refused by
		 * both alike, wherever the cut falls in the last events */
		for (size_t cut = 1; cut < 48 && cut + 40 < len; cut++) {
			size_t n = len - cut;
			unsigned char *b = malloc(n);
			memcpy(b, buf, n - 4);
			for (int k = 0; k < 8; k++)   /* the header's length (u64 at 12) */
				b[12 + k] = (unsigned char)((uint64_t)n >> (8 * k));
			uint32_t c = crc(b, n - 4);
			for (int k = 0; k < 4; k++)
				b[n - 4 + k] = (unsigned char)(c >> (8 * k));
			same_paths(b, n, (int)cut);
			free(b);
		}
		free(buf);
		trace_free(t);
	}
}

/* The CRC by carry-less multiplication (where the CPU has it) is the tables' at
 * every length and alignment; and the standard check value. */
static void test_crc(void)
{
	unsigned char b[700];
	uint64_t x = 88172645463325252u;
	for (size_t i = 0; i < sizeof b; i++) {
		x ^= x << 13, x ^= x >> 7, x ^= x << 17;
		b[i] = (unsigned char)x;
	}
	int bad = 0;
	for (size_t off = 0; off < 16; off++)
		for (size_t n = 0; n + off <= 600 + 16; n++)
			bad += trace_crc32(b + off, n, 1) != trace_crc32(b + off, n, 0) ||
			       trace_crc32(b + off, n, 0) != crc(b + off, n);
	CHECK(bad == 0);
	CHECK(trace_crc32((const unsigned char *)"123456789", 9, 1) == 0xCBF43926u);
	unsigned char z[256] = { 0 };
	CHECK(trace_crc32(z, sizeof z, 1) == crc(z, sizeof z));
}

static void test_fuzz_body(void)
{
	struct trace *t = sample();
	unsigned char *buf;
	size_t len;
	trace_encode(t, &buf, &len);
	trace_free(t);
	uint64_t x = 88172645463325252u;
	char err[512];
	int accepted = 0;
	for (int round = 0; round < 20000; round++) {
		unsigned char *b = malloc(len);
		memcpy(b, buf, len);
		int flips = 1 + (int)(round % 4);
		for (int f = 0; f < flips; f++) {
			x ^= x << 13, x ^= x >> 7, x ^= x << 17;
			size_t at = 20 + (size_t)(x % (len - 24));
			b[at] = (unsigned char)(x >> 32);
		}
		uint32_t c = crc(b, len - 4);
		for (int i = 0; i < 4; i++)
			b[len - 4 + i] = (unsigned char)(c >> (8 * i));
		same_paths(b, len, round);
		struct trace *v = trace_decode(b, len, "f", err, sizeof err);
		if (v) {
			accepted++;
			char e2[512];
			CHECK(trace_validate(v, e2, sizeof e2) == 0);
			struct trace_program p;
			if (trace_to_program(v, 1.0, &p, e2, sizeof e2) == 0)
				trace_program_free(&p);
			struct trace_stats st;
			trace_stats(v, &st);
		} else {
			CHECK(!strncmp(err, "f: ", 3));
		}
		trace_free(v);
		free(b);
	}
	(void)accepted;
	free(buf);
}

static void test_validate(void)
{
	char err[512];
	struct trace *t = sample();
	/* release of a lock not held */
	t->threads[1].ev[7].kind = TEV_LOCK_REL;
	CHECK(trace_validate(t, err, sizeof err) < 0 && strstr(err, "thread 1"));
	trace_free(t);
	t = sample();
	t->threads[0].ev[3].t = 1;   /* back in time */
	CHECK(trace_validate(t, err, sizeof err) < 0 && strstr(err, "back in time"));
	trace_free(t);
	t = sample();
	t->threads[0].n--;           /* no thread_end */
	CHECK(trace_validate(t, err, sizeof err) < 0 && strstr(err, "thread_end"));
	trace_free(t);
	t = sample();
	t->duration_ns = 100;
	CHECK(trace_validate(t, err, sizeof err) < 0 && strstr(err, "after the end"));
	trace_free(t);
	t = trace_new();
	CHECK(trace_validate(t, err, sizeof err) < 0 && strstr(err, "no threads"));
	trace_free(t);
}

static void test_program(void)
{
	struct trace *t = sample();
	struct trace_program p;
	char err[512];
	CHECK(trace_to_program(t, 2.0, &p, err, sizeof err) == 0);
	CHECK(p.nthreads == 2 && p.barriers == 4 && p.nlocks == 1);
	struct op *ops[2];
	CHECK(trace_program_ops(&p, 0, &ops[0]) == p.nops[0]);
	CHECK(trace_program_ops(&p, 1, &ops[1]) == p.nops[1]);
	/* thread 0: compute 1000, B, 500, B, 500, B, 200, L(30), 200, L(30), 300, B, 700 */
	static const int k0[] = { OP_COMPUTE, OP_BARRIER, OP_COMPUTE, OP_BARRIER, OP_COMPUTE,
				  OP_BARRIER, OP_COMPUTE, OP_LOCK, OP_COMPUTE, OP_LOCK, OP_COMPUTE,
				  OP_BARRIER, OP_COMPUTE };
	static const simtime_t d0[] = { 2000, 0, 1000, 0, 1000, 0, 400, 60, 400, 60, 600, 0, 1400 };
	CHECK(p.nops[0] == sizeof k0 / sizeof *k0);
	for (size_t i = 0; i < p.nops[0] && i < sizeof k0 / sizeof *k0; i++) {
		CHECK((int)ops[0][i].kind == k0[i]);
		if (k0[i] == OP_COMPUTE)
			CHECK(ops[0][i].ns == d0[i]);
		if (k0[i] == OP_LOCK)
			CHECK(ops[0][i].cs_ns == d0[i] && ops[0][i].lock == 0);
	}
	/* thread 1 computes from its start to the region, and nests lock 1 in lock 0:
	 * the second section holds 10+10+10+30 ns = 60, x2 */
	CHECK(ops[1][0].kind == OP_COMPUTE && ops[1][0].ns == 2020);
	CHECK(ops[1][1].kind == OP_BARRIER);
	int locks = 0;
	for (size_t i = 0; i < p.nops[1]; i++)
		if (ops[1][i].kind == OP_LOCK)
			CHECK(ops[1][i].cs_ns == (locks++ ? 120 : 60));
	CHECK(locks == 2);
	free(ops[0]);
	free(ops[1]);
	trace_program_free(&p);

	struct trace_stats st;
	trace_stats(t, &st);
	CHECK(st.regions == 2 && st.barriers == 6 && st.acquisitions == 5);
	CHECK(st.sync_points == 13);

	/* threads that disagree on barriers cannot be replayed */
	struct trace_thread *th = &t->threads[1];
	th->ev[2].kind = TEV_LOCK_REQ;  /* turn one barrier into a lock */
	th->ev[2].arg = 0;
	th->ev[3].kind = TEV_LOCK_ACQ;
	th->ev[3].arg = 0;
	/* ... which then needs a release before the next barrier: make the next pair a
	 * release and a harmless join */
	th->ev[4].kind = TEV_LOCK_REL;
	th->ev[4].arg = 0;
	th->ev[5].kind = TEV_JOIN;
	CHECK(trace_validate(t, err, sizeof err) == 0);
	CHECK(trace_to_program(t, 1.0, &p, err, sizeof err) < 0 && strstr(err, "barriers"));
	trace_free(t);
}

/* Version 2: munmap of 2 pages between computes, mprotect of 1 page inside a
 * critical section (replayed after it). */
static void test_tlb_events(void)
{
	struct trace *t = trace_new();
	trace_set_str(&t->clock, "CLOCK_MONOTONIC ns");
	trace_set_str(&t->program, "tlb");
	trace_set_str(&t->host, "test");
	t->duration_ns = 500;
	trace_add_lock(t, TLOCK_MUTEX, "pthread_mutex#0");
	for (int i = 0; i < 2; i++) {
		int idx = trace_add_thread(t);   /* may move t->threads */
		struct trace_thread *th = &t->threads[idx];
		trace_push(th, 0, TEV_THREAD_BEGIN, 0);
		if (i == 0) {
			trace_push(th, 100, TEV_TLB_FLUSH, 2 << 2 | TFLUSH_MUNMAP);
			trace_push(th, 300, TEV_LOCK_REQ, 0);
			trace_push(th, 310, TEV_LOCK_ACQ, 0);
			trace_push(th, 320, TEV_TLB_FLUSH, 1 << 2 | TFLUSH_MPROTECT);
			trace_push(th, 340, TEV_LOCK_REL, 0);
		}
		trace_push(th, 400, TEV_BARRIER_ENTER, TBAR_PTHREAD);
		trace_push(th, 450, TEV_BARRIER_EXIT, 0);
		trace_push(th, 500, TEV_THREAD_END, 0);
	}
	char err[512];
	CHECK(trace_validate(t, err, sizeof err) == 0);
	unsigned char *buf;
	size_t len;
	CHECK(trace_encode(t, &buf, &len) == 0);
	CHECK(buf[8] == 2);
	struct trace *u = trace_decode(buf, len, "t.vtr", err, sizeof err);
	CHECK(u && same(t, u) && u->version == 2);
	trace_free(u);
	for (size_t n = 1; n < len; n++) {   /* every truncation, with a message */
		struct trace *v = trace_decode(buf, n, "t.vtr", err, sizeof err);
		CHECK(v == NULL && !strncmp(err, "t.vtr: ", 7));
		trace_free(v);
	}
	free(buf);
	struct trace_stats st;
	trace_stats(t, &st);
	CHECK(st.tlb_flushes == 2 && st.tlb_by_call[TFLUSH_MUNMAP] == 1 &&
	      st.tlb_by_call[TFLUSH_MPROTECT] == 1 && st.tlb_by_call[TFLUSH_MADVISE] == 0);
	CHECK(st.compute_ns == 100 + 200 + 30 + 60 + 50 + 450);
	struct trace_program p;
	CHECK(trace_to_program(t, 1.0, &p, err, sizeof err) == 0);
	CHECK(p.tlb_flushes == 2 && p.barriers == 1);
	struct op *ops;
	size_t n = trace_program_ops(&p, 0, &ops);
	static const int k[] = { OP_COMPUTE, OP_TLB_SHOOTDOWN, OP_COMPUTE, OP_LOCK,
				 OP_TLB_SHOOTDOWN, OP_COMPUTE, OP_BARRIER, OP_COMPUTE };
	static const simtime_t d[] = { 100, 0, 200, 30, 0, 60, 0, 50 };
	CHECK(n == p.nops[0] && n == sizeof k / sizeof *k);
	for (size_t i = 0; ops && i < n && i < sizeof k / sizeof *k; i++) {
		CHECK((int)ops[i].kind == k[i]);
		if (k[i] == OP_COMPUTE)
			CHECK(ops[i].ns == d[i]);
		if (k[i] == OP_LOCK)
			CHECK(ops[i].cs_ns == d[i]);
	}
	free(ops);
	trace_program_free(&p);
	/* a version 1 trace has no tlb_flush events */
	t->version = 1;
	CHECK(trace_validate(t, err, sizeof err) < 0 && strstr(err, "version 2"));
	trace_free(t);
}

int main(void)
{
	test_tlb_events();
	test_round_trip();
	test_crc();
	test_fuzz_body();
	test_paths_events();
	test_paths_long_varints();
	test_validate();
	test_program();
	if (failures)
		fprintf(stderr, "%d check(s) failed\n", failures);
	return failures ? 1 : 0;
}
