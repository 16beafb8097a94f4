/* test_trace_otf2.c: OTF2 import (traces/trace_otf2.c). Writes a small two-thread
 * archive with the OTF2 writer API (parallel region, explicit barrier, a lock taken
 * through an omp_set_lock wrapper region, the implicit barrier ending the region),
 * imports it and checks every event and the replay program; then checks that
 * unreadable archives (garbage anchor, missing event files, no anchor) give a
 * message naming the file, not a crash. Skipped when built without OTF2. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "traces/replay.h"

static int failures;
#define CHECK(c) do { if (!(c)) { fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, \
	__LINE__, #c); failures++; } } while (0)

#if !__has_include(<otf2/otf2.h>)
int main(void)
{
	printf("OTF2 headers not installed: skipped\n");
	return 0;
}
#else
#include <otf2/otf2.h>

static OTF2_FlushType pre_flush(void *ud, OTF2_FileType ft, OTF2_LocationRef loc, void *cd,
				bool final)
{
	return OTF2_FLUSH;
}

static OTF2_TimeStamp post_flush(void *ud, OTF2_FileType ft, OTF2_LocationRef loc)
{
	return 0;
}

enum { R_MAIN, R_PAR, R_BAR, R_IBAR, R_SETLOCK };

static void write_archive(const char *dir)
{
	static OTF2_FlushCallbacks fcb = { pre_flush, post_flush };
	OTF2_Archive *a = OTF2_Archive_Open(dir, "trace", OTF2_FILEMODE_WRITE, 1024 * 1024,
					    4 * 1024 * 1024, OTF2_SUBSTRATE_POSIX,
					    OTF2_COMPRESSION_NONE);
	CHECK(a != NULL);
	OTF2_Archive_SetFlushCallbacks(a, &fcb, NULL);
	OTF2_Archive_SetSerialCollectiveCallbacks(a);
	OTF2_Archive_OpenEvtFiles(a);
	OTF2_EvtWriter *w0 = OTF2_Archive_GetEvtWriter(a, 0);
	OTF2_EvtWriter_Enter(w0, NULL, 1000, R_MAIN);
	OTF2_EvtWriter_Enter(w0, NULL, 2000, R_PAR);
	OTF2_EvtWriter_Enter(w0, NULL, 3000, R_BAR);
	OTF2_EvtWriter_Leave(w0, NULL, 3100, R_BAR);
	OTF2_EvtWriter_Enter(w0, NULL, 3500, R_SETLOCK);
	OTF2_EvtWriter_ThreadAcquireLock(w0, NULL, 3600, OTF2_PARADIGM_OPENMP, 7, 1);
	OTF2_EvtWriter_Leave(w0, NULL, 3610, R_SETLOCK);
	OTF2_EvtWriter_ThreadReleaseLock(w0, NULL, 3700, OTF2_PARADIGM_OPENMP, 7, 1);
	OTF2_EvtWriter_Enter(w0, NULL, 4000, R_IBAR);
	OTF2_EvtWriter_Leave(w0, NULL, 4200, R_IBAR);
	OTF2_EvtWriter_Leave(w0, NULL, 4210, R_PAR);
	OTF2_EvtWriter_Leave(w0, NULL, 5000, R_MAIN);
	OTF2_Archive_CloseEvtWriter(a, w0);
	OTF2_EvtWriter *w1 = OTF2_Archive_GetEvtWriter(a, 1);
	OTF2_EvtWriter_Enter(w1, NULL, 2050, R_PAR);
	OTF2_EvtWriter_Enter(w1, NULL, 2900, R_BAR);
	OTF2_EvtWriter_Leave(w1, NULL, 3100, R_BAR);
	OTF2_EvtWriter_Enter(w1, NULL, 3300, R_SETLOCK);
	OTF2_EvtWriter_ThreadAcquireLock(w1, NULL, 3320, OTF2_PARADIGM_OPENMP, 7, 0);
	OTF2_EvtWriter_Leave(w1, NULL, 3330, R_SETLOCK);
	OTF2_EvtWriter_ThreadReleaseLock(w1, NULL, 3500, OTF2_PARADIGM_OPENMP, 7, 0);
	OTF2_EvtWriter_Enter(w1, NULL, 3900, R_IBAR);
	OTF2_EvtWriter_Leave(w1, NULL, 4200, R_IBAR);
	OTF2_EvtWriter_Leave(w1, NULL, 4205, R_PAR);
	OTF2_Archive_CloseEvtWriter(a, w1);
	OTF2_Archive_CloseEvtFiles(a);
	OTF2_Archive_OpenDefFiles(a);
	for (OTF2_LocationRef l = 0; l < 2; l++)
		OTF2_Archive_CloseDefWriter(a, OTF2_Archive_GetDefWriter(a, l));
	OTF2_Archive_CloseDefFiles(a);
	OTF2_GlobalDefWriter *g = OTF2_Archive_GetGlobalDefWriter(a);
	OTF2_GlobalDefWriter_WriteClockProperties(g, 1000000000, 1000, 4000, 0);
	const char *strings[] = { "", "main", "!$omp parallel", "!$omp barrier",
				  "!$omp implicit barrier", "omp_set_lock", "node", "process",
				  "thread 0", "thread 1" };
	for (OTF2_StringRef s = 0; s < 10; s++)
		OTF2_GlobalDefWriter_WriteString(g, s, strings[s]);
	static const OTF2_RegionRole roles[] = { OTF2_REGION_ROLE_FUNCTION, OTF2_REGION_ROLE_PARALLEL,
						 OTF2_REGION_ROLE_BARRIER,
						 OTF2_REGION_ROLE_IMPLICIT_BARRIER,
						 OTF2_REGION_ROLE_WRAPPER };
	for (OTF2_RegionRef r = 0; r < 5; r++)
		OTF2_GlobalDefWriter_WriteRegion(g, r, r + 1, r + 1, 0, roles[r],
						 r ? OTF2_PARADIGM_OPENMP : OTF2_PARADIGM_USER,
						 OTF2_REGION_FLAG_NONE, 0, 0, 0);
	OTF2_GlobalDefWriter_WriteSystemTreeNode(g, 0, 6, 6, OTF2_UNDEFINED_SYSTEM_TREE_NODE);
	OTF2_GlobalDefWriter_WriteLocationGroup(g, 0, 7, OTF2_LOCATION_GROUP_TYPE_PROCESS, 0,
						OTF2_UNDEFINED_LOCATION_GROUP);
	OTF2_GlobalDefWriter_WriteLocation(g, 0, 8, OTF2_LOCATION_TYPE_CPU_THREAD, 12, 0);
	OTF2_GlobalDefWriter_WriteLocation(g, 1, 9, OTF2_LOCATION_TYPE_CPU_THREAD, 10, 0);
	OTF2_Archive_Close(a);
}

/* Mutates one file of the archive many times (truncations, changed bytes) and
 * imports it each time: the result is a valid trace or a message naming the
 * anchor, never a crash (run under ASan/UBSan by make test-asan). The anchor
 * itself is left alone: a corrupt anchor can make the OTF2 library ask for
 * gigabytes (docs/traces.md). */
static void fuzz_file(const char *archive, const char *anchor, const char *name, int rounds)
{
	char path[512], err[1024];
	snprintf(path, sizeof path, "%s/%s", archive, name);
	FILE *f = fopen(path, "rb");
	CHECK(f != NULL);
	if (!f)
		return;
	static unsigned char orig[1 << 16], b[1 << 16];
	size_t n = fread(orig, 1, sizeof orig, f);
	fclose(f);
	uint64_t x = 88172645463325252u;
	int accepted = 0;
	for (int r = 0; r < rounds && n > 0; r++) {
		memcpy(b, orig, n);
		size_t len = n;
		x ^= x << 13, x ^= x >> 7, x ^= x << 17;
		if (r % 5 == 0)
			len = (size_t)(x % n);
		else
			for (int k = 0; k <= r % 3; k++) {
				x ^= x << 13, x ^= x >> 7, x ^= x << 17;
				b[x % n] = (unsigned char)(x >> 40);
			}
		f = fopen(path, "wb");
		fwrite(b, 1, len, f);
		fclose(f);
		err[0] = 0;
		struct trace *t = trace_load(anchor, err, sizeof err);
		if (t) {
			accepted++;
			char e2[512];
			CHECK(trace_validate(t, e2, sizeof e2) == 0);
		} else {
			CHECK(strstr(err, anchor) == err);
		}
		trace_free(t);
	}
	f = fopen(path, "wb");
	fwrite(orig, 1, n, f);
	fclose(f);
	fprintf(stderr, "fuzzed %s: %d of %d mutations still importable\n", name, accepted, rounds);
}

static void expect(const struct trace_thread *th, const uint32_t (*ev)[2], const uint64_t *t,
		   size_t n, int thread)
{
	CHECK(th->n == n);
	for (size_t k = 0; k < n && k < th->n; k++)
		if (th->ev[k].kind != ev[k][0] || th->ev[k].t != t[k] ||
		    (ev[k][0] >= TEV_LOCK_REQ && th->ev[k].arg != ev[k][1])) {
			fprintf(stderr, "thread %d event %zu: got %s at %llu, expected %s at %llu\n",
				thread, k, th->ev[k].kind < TEV_KINDS ? tev_kind_names[th->ev[k].kind] : "?",
				(unsigned long long)th->ev[k].t, tev_kind_names[ev[k][0]],
				(unsigned long long)t[k]);
			failures++;
		}
}

int main(void)
{
	if (!trace_have_otf2()) {
		printf("built without OTF2: skipped\n");
		return 0;
	}
	char dir[] = "/tmp/vcpusim-otf2-XXXXXX";
	if (!mkdtemp(dir))
		return 1;
	char archive[256], anchor[300], err[1024];
	snprintf(archive, sizeof archive, "%s/a", dir);
	write_archive(archive);
	snprintf(anchor, sizeof anchor, "%s/trace.otf2", archive);
	struct trace *t = trace_load(anchor, err, sizeof err);
	if (!t) {
		fprintf(stderr, "import failed: %s\n", err);
		return 1;
	}
	CHECK(t->nthreads == 2 && t->nlocks == 1 && t->duration_ns == 4000);
	static const uint32_t e0[][2] = {
		{ TEV_THREAD_BEGIN, 0 }, { TEV_REGION_BEGIN, 0 }, { TEV_BARRIER_ENTER, 0 },
		{ TEV_BARRIER_EXIT, 0 }, { TEV_LOCK_REQ, 0 }, { TEV_LOCK_ACQ, 0 },
		{ TEV_LOCK_REL, 0 }, { TEV_REGION_END, 0 }, { TEV_JOIN, 0 }, { TEV_THREAD_END, 0 },
	};
	static const uint64_t t0[] = { 0, 1000, 2000, 2100, 2500, 2600, 2700, 3000, 3210, 4000 };
	static const uint32_t e1[][2] = {
		{ TEV_THREAD_BEGIN, 0 }, { TEV_REGION_BEGIN, 0 }, { TEV_BARRIER_ENTER, 0 },
		{ TEV_BARRIER_EXIT, 0 }, { TEV_LOCK_REQ, 0 }, { TEV_LOCK_ACQ, 0 },
		{ TEV_LOCK_REL, 0 }, { TEV_REGION_END, 0 }, { TEV_THREAD_END, 0 },
	};
	static const uint64_t t1[] = { 1050, 1050, 1900, 2100, 2300, 2320, 2500, 2900, 3205 };
	if (t->nthreads == 2) {
		expect(&t->threads[0], e0, t0, 10, 0);
		expect(&t->threads[1], e1, t1, 9, 1);
	}
	struct trace_program p;
	CHECK(trace_to_program(t, 1.0, &p, err, sizeof err) == 0);
	CHECK(p.barriers == 3 && p.nlocks == 1);
	/* thread 0: 1000 B 1000 B 400 L(100) 300 B (join) 790 */
	CHECK(p.nops[0] == 9);
	struct op *ops0;
	CHECK(trace_program_ops(&p, 0, &ops0) == 9);
	if (p.nops[0] == 9) {
		CHECK(ops0[0].kind == OP_COMPUTE && ops0[0].ns == 1000);
		CHECK(ops0[4].kind == OP_COMPUTE && ops0[4].ns == 400);
		CHECK(ops0[5].kind == OP_LOCK && ops0[5].cs_ns == 100);
		CHECK(ops0[8].kind == OP_COMPUTE && ops0[8].ns == 790);
	}
	free(ops0);
	trace_program_free(&p);
	/* the native format holds the same trace */
	unsigned char *buf;
	size_t len;
	CHECK(trace_encode(t, &buf, &len) == 0);
	struct trace *u = trace_decode(buf, len, "conv", err, sizeof err);
	CHECK(u && u->nthreads == 2 && u->threads[1].n == 9);
	trace_free(u);
	free(buf);
	trace_free(t);

	fuzz_file(archive, anchor, "trace.def", 100);
	fuzz_file(archive, anchor, "trace/0.evt", 100);
	fuzz_file(archive, anchor, "trace/1.evt", 100);
	t = trace_load(anchor, err, sizeof err);   /* restored intact */
	CHECK(t != NULL && t->nthreads == 2);
	trace_free(t);

	/* an anchor that is not OTF2 */
	char bad[300];
	snprintf(bad, sizeof bad, "%s/bad.otf2", dir);
	FILE *f = fopen(bad, "w");
	fputs("this is not an OTF2 anchor file\n", f);
	fclose(f);
	err[0] = 0;
	CHECK(trace_load(bad, err, sizeof err) == NULL && strstr(err, bad) == err);
	fprintf(stderr, "garbage anchor: %s\n", err);
	/* empty anchor */
	f = fopen(bad, "w");
	fclose(f);
	CHECK(trace_load(bad, err, sizeof err) == NULL && strstr(err, bad) == err);
	fprintf(stderr, "empty anchor: %s\n", err);
	/* no such anchor */
	CHECK(trace_load("/nonexistent/x.otf2", err, sizeof err) == NULL &&
	      strstr(err, "/nonexistent/x.otf2") == err);
	/* truncated: an event file cut short, then removed */
	char evt[400];
	snprintf(evt, sizeof evt, "%s/trace/0.evt", archive);
	CHECK(truncate(evt, 20) == 0);
	t = trace_load(anchor, err, sizeof err);
	CHECK(t == NULL && strstr(err, anchor) == err);
	fprintf(stderr, "truncated events: %s\n", t ? "(accepted)" : err);
	trace_free(t);
	unlink(evt);
	t = trace_load(anchor, err, sizeof err);
	CHECK(t == NULL && strstr(err, anchor) == err);
	fprintf(stderr, "missing events: %s\n", t ? "(accepted)" : err);
	trace_free(t);

	char cmd[400];
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
	if (system(cmd) != 0)
		fprintf(stderr, "could not remove %s\n", dir);
	if (failures)
		fprintf(stderr, "%d check(s) failed\n", failures);
	return failures ? 1 : 0;
}
#endif
