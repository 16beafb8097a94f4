/* fuzz_trace.c: fuzz target for the trace reader (traces/trace_format.c) and what
 * consumes a decoded trace: replay conversion, statistics, re-encoding.
 * Each input is decoded as is (which the CRC almost always rejects), then again
 * with its length field and CRC patched to match, so the parser and the structural
 * validation behind the checksum are exercised too. An accepted trace must
 * re-encode to a trace that decodes to the same encoding, and the decoder that
 * keeps events encoded (trace_decode_lazy, for replay) must agree with it, and the
 * fast and reference paths that load programs from the file's bytes with each other. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "traces/replay.h"

static uint32_t crc32_ieee(const uint8_t *p, size_t n)
{
	uint32_t c = 0xFFFFFFFFu;
	for (size_t i = 0; i < n; i++) {
		c ^= p[i];
		for (int k = 0; k < 8; k++)
			c = c & 1 ? 0xEDB88320u ^ (c >> 1) : c >> 1;
	}
	return c ^ 0xFFFFFFFFu;
}

/* The decoder that keeps events encoded (replay's) accepts exactly what
 * trace_decode accepts, and its streams read back the same events. */
static void lazy_agrees(const uint8_t *data, size_t size, const struct trace *t)
{
	char err[1024];
	size_t *off = NULL;
	struct trace *l = trace_decode_lazy(data, size, "fuzz.vtr", err, sizeof err, &off, NULL, NULL);
	if (!l != !t)
		abort();
	if (!l)
		return;
	if (l->nthreads != t->nthreads || l->nlocks != t->nlocks)
		abort();
	for (int i = 0; i < t->nthreads; i++) {
		if (l->threads[i].n != t->threads[i].n)
			abort();
		size_t o = off[i];
		uint64_t now = 0;
		for (size_t k = 0; k < t->threads[i].n; k++) {
			struct trace_event e;
			trace_stream_next(data, &o, &now, &e);
			const struct trace_event *x = &t->threads[i].ev[k];
			if (e.t != x->t || e.kind != x->kind || e.arg != x->arg)
				abort();
		}
	}
	trace_free(l);
	free(off);
}

/* The two ways of loading programs (trace_replay.c: the fused fast path and the
 * reference checks and walk it falls back to) accept the same inputs with the same
 * programs and refuse the same with the same message. */
static void paths_agree(const uint8_t *data, size_t size)
{
	static const double scales[] = { 1.0, 1.5, 1e-3, 1e-6, 1e6 };
	double scale = scales[size % 5];
	unsigned char *b1 = malloc(size ? size : 1), *b2 = malloc(size ? size : 1);
	memcpy(b1, data, size);
	memcpy(b2, data, size);
	struct trace_program p1, p2;
	char e1[1024] = "", e2[1024] = "";
	int r1 = trace_program_from_buffer(b1, size, "fuzz.vtr", scale, 0, &p1, e1, sizeof e1);
	int r2 = trace_program_from_buffer(b2, size, "fuzz.vtr", scale, 1, &p2, e2, sizeof e2);
	if (r1 != r2 || (r1 == 0 && !trace_program_same(&p1, &p2)) || (r1 < 0 && strcmp(e1, e2)))
		abort();
	if (r1 == 0) {
		trace_program_free(&p1);
		trace_program_free(&p2);
	}
}

static void consume(const uint8_t *data, size_t size, int patched)
{
	char err[1024];
	struct trace *t = trace_decode(data, size, "fuzz.vtr", err, sizeof err);
	lazy_agrees(data, size, t);
	paths_agree(data, size);
	if (!t) {
		if (strncmp(err, "fuzz.vtr: ", 10) != 0)
			abort();   /* every message names the file */
		if (patched && strstr(err, "checksum"))
			abort();   /* the reader's CRC disagrees with the plain one above */
		return;
	}
	struct trace_stats st;
	trace_stats(t, &st);
	struct trace_program p;
	if (trace_to_program(t, 1.5, &p, err, sizeof err) == 0)
		trace_program_free(&p);
	unsigned char *a, *b;
	size_t la, lb;
	if (trace_encode(t, &a, &la) == 0) {
		struct trace *u = trace_decode(a, la, "again", err, sizeof err);
		if (!u)
			abort();   /* what we accept, we must write back readably */
		if (trace_encode(u, &b, &lb) == 0) {
			if (la != lb || memcmp(a, b, la) != 0)
				abort();
			free(b);
		}
		trace_free(u);
		free(a);
	}
	trace_free(t);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	consume(data, size, 0);
	if (size >= 24 && size < (1u << 24)) {
		uint8_t *copy = malloc(size);
		memcpy(copy, data, size);
		for (int i = 0; i < 8; i++)
			copy[12 + i] = (uint8_t)((uint64_t)size >> (8 * i));
		uint32_t c = crc32_ieee(copy, size - 4);
		for (int i = 0; i < 4; i++)
			copy[size - 4 + i] = (uint8_t)(c >> (8 * i));
		consume(copy, size, 1);
		free(copy);
	}
	return 0;
}
