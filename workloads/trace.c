/* trace.c: the "trace" workload: replays a captured trace (traces/, docs/traces.md)
 * as the guest program of a VM, one trace thread per vCPU.
 *
 *   {"kind": "trace", "file": "traces/samples/stencil-2t.vtr",
 *    "time_scale": 1.0, "repeat": 1}
 *
 * file: a vcpusim trace or an OTF2 anchor (*.otf2). A relative path is looked up
 * relative to the scenario file's directory first, then to the current directory.
 * time_scale multiplies every recorded duration (2.0 = a CPU half as fast).
 * repeat runs the whole trace that many times. The trace must have exactly as many
 * threads as the VM has vCPUs. Compute -> OP_COMPUTE, lock sections -> OP_LOCK with
 * the recorded hold time, barriers and region boundaries -> OP_BARRIER
 * (traces/replay.h), so they suffer preemption exactly as synthetic ones do. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>
#include "workloads/workload.h"
#include "traces/replay.h"

struct workload_params {
	struct trace_program prog;
	int64_t repeat;
};

struct trace_state {
	int threads;
	size_t *pos;
	int64_t *rep;
};

/* Relative to the scenario's directory if the file is there, else as given. */
static char *resolve(const char *scenario, const char *file)
{
	if (file[0] != '/' && scenario && strchr(scenario, '/')) {
		size_t dl = (size_t)(strrchr(scenario, '/') - scenario);
		char *p = malloc(dl + strlen(file) + 2);
		if (!p)
			return NULL;
		snprintf(p, dl + strlen(file) + 2, "%.*s/%s", (int)dl, scenario, file);
		if (access(p, F_OK) == 0)
			return p;
		free(p);
	}
	return strdup(file);
}

/* Sweep workers run run after run in one process (sweep/pool.c): a trace that many
 * runs replay is read once per worker, not once per run (reading is most of a short
 * replay's CPU). Off unless trace_workload_cache(1); an entry is used again only
 * while the file is the same (device, inode, size, modification time). */
static int trace_cache_on;
enum { TRACE_CACHE = 8 };
static struct {
	char *path;
	struct stat st;
	struct trace *t;
} trace_cache[TRACE_CACHE];
static int trace_cache_next;

void trace_workload_cache(int on)
{
	trace_cache_on = on;
}

/* The trace at path, from the cache or read into it; *owned says whether the
 * caller must free it (when it could not be cached). */
static struct trace *cached_load(const char *path, char *err, size_t errlen, int *owned)
{
	struct stat st;
	*owned = 1;
	if (stat(path, &st) < 0)
		return trace_load(path, err, errlen); /* says why */
	for (int i = 0; i < TRACE_CACHE; i++)
		if (trace_cache[i].t && !strcmp(trace_cache[i].path, path) &&
		    trace_cache[i].st.st_dev == st.st_dev && trace_cache[i].st.st_ino == st.st_ino &&
		    trace_cache[i].st.st_size == st.st_size &&
		    trace_cache[i].st.st_mtim.tv_sec == st.st_mtim.tv_sec &&
		    trace_cache[i].st.st_mtim.tv_nsec == st.st_mtim.tv_nsec) {
			*owned = 0;
			return trace_cache[i].t;
		}
	struct trace *t = trace_load(path, err, errlen);
	char *p = t ? strdup(path) : NULL;
	if (!t || !p) {
		free(p);
		return t; /* not cached: the caller frees it */
	}
	*owned = 0;
	int i = trace_cache_next++ % TRACE_CACHE;
	if (trace_cache[i].t) {
		trace_free(trace_cache[i].t);
		free(trace_cache[i].path);
	}
	trace_cache[i].path = p;
	trace_cache[i].st = st;
	trace_cache[i].t = t;
	return t;
}

static struct workload_params *trace_parse(struct jp *jp, const cJSON *w, const char *path,
					   int vcpus)
{
	static const char *const keys[] = { "kind", "file", "time_scale", "repeat", NULL };
	jp_only_keys(jp, w, path, keys);
	char fpath[JP_PATH_MAX];
	jp_join(fpath, path, "file");
	const char *file = jp_str(jp, w, path, "file", NULL);
	double scale = jp_num(jp, w, path, "time_scale", 1.0, 1e-6, 1e6);
	int64_t repeat = jp_int(jp, w, path, "repeat", 1, 1, 1000000);
	if (jp->failed)
		return NULL;
	if (!file || !*file) {
		jp_fail(jp, fpath, "expected the path of a trace file (vcpusim trace or OTF2 "
			"anchor *.otf2)");
		return NULL;
	}
	char *real = resolve(jp->file, file);
	if (!real) {
		jp_fail(jp, fpath, "out of memory");
		return NULL;
	}
	char err[1024];
	int owned = 1; /* a cached trace stays for the next run */
	struct trace *t = trace_cache_on ? cached_load(real, err, sizeof err, &owned)
					 : trace_load(real, err, sizeof err);
	free(real);
	if (!t) {
		jp_fail(jp, fpath, "%s", err);
		return NULL;
	}
	if (t->nthreads != vcpus) {
		jp_fail(jp, fpath, "trace has %d thread%s, VM has %d vCPU%s", t->nthreads,
			t->nthreads == 1 ? "" : "s", vcpus, vcpus == 1 ? "" : "s");
		if (owned)
			trace_free(t);
		return NULL;
	}
	struct workload_params *p = calloc(1, sizeof *p);
	if (!p) {
		if (owned)
			trace_free(t);
		jp_fail(jp, fpath, "out of memory");
		return NULL;
	}
	if (trace_to_program(t, scale, &p->prog, err, sizeof err) < 0) {
		jp_fail(jp, fpath, "%s: %s", file, err);
		if (owned)
			trace_free(t);
		free(p);
		return NULL;
	}
	if (owned)
		trace_free(t);
	p->repeat = repeat;
	return p;
}

static void trace_free_params(struct workload_params *p)
{
	if (!p)
		return;
	trace_program_free(&p->prog);
	free(p);
}

static int trace_locks(const struct workload_params *p)
{
	return p->prog.nlocks;
}

static int trace_finite(const struct workload_params *p)
{
	return 1;
}

static void *trace_start(const struct workload_params *p, int threads)
{
	struct trace_state *s = calloc(1, sizeof *s);
	if (!s)
		return NULL;
	s->threads = threads;
	s->pos = calloc((size_t)threads, sizeof *s->pos);
	s->rep = calloc((size_t)threads, sizeof *s->rep);
	if (!s->pos || !s->rep) {
		free(s->pos);
		free(s->rep);
		free(s);
		return NULL;
	}
	return s;
}

static void trace_stop(void *state)
{
	struct trace_state *s = state;
	if (!s)
		return;
	free(s->pos);
	free(s->rep);
	free(s);
}

static void trace_next_op(void *state, const struct workload_params *p, int t, gsl_rng *rng,
			  struct op *out)
{
	struct trace_state *s = state;
	memset(out, 0, sizeof *out);
	out->kind = OP_END;
	if (!s || t < 0 || t >= s->threads || t >= p->prog.nthreads)
		return;
	size_t n = p->prog.nops[t];
	if (s->pos[t] >= n) {
		if (n == 0 || s->rep[t] + 1 >= p->repeat)
			return;
		s->rep[t]++;
		s->pos[t] = 0;
	}
	*out = p->prog.ops[t][s->pos[t]++];
}

const struct workload_kind workload_trace = {
	.name = "trace",
	.summary = "replay of a captured trace (vcpusim capture, or OTF2 from Score-P)",
	.parse = trace_parse,
	.free_params = trace_free_params,
	.locks = trace_locks,
	.finite = trace_finite,
	.start = trace_start,
	.stop = trace_stop,
	.next_op = trace_next_op,
};
