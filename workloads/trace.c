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
#include "workloads/workload.h"
#include "traces/replay.h"

struct workload_params {
	struct trace_program prog;
	int64_t repeat;
};

struct trace_state {
	int threads;
	struct trace_cursor *cur;   /* per thread: where it is in its stream */
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
	struct workload_params *p = calloc(1, sizeof *p);
	if (!p) {
		free(real);
		jp_fail(jp, fpath, "out of memory");
		return NULL;
	}
	/* checked and kept encoded: nothing per event is allocated (traces/replay.h) */
	if (trace_program_load(real, scale, &p->prog, err, sizeof err) < 0) {
		free(real);
		free(p);
		jp_fail(jp, fpath, "%s", err);
		return NULL;
	}
	free(real);
	if (p->prog.nthreads != vcpus) {
		jp_fail(jp, fpath, "trace has %d thread%s, VM has %d vCPU%s", p->prog.nthreads,
			p->prog.nthreads == 1 ? "" : "s", vcpus, vcpus == 1 ? "" : "s");
		trace_program_free(&p->prog);
		free(p);
		return NULL;
	}
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
	s->cur = calloc((size_t)threads, sizeof *s->cur);
	s->rep = calloc((size_t)threads, sizeof *s->rep);
	if (!s->cur || !s->rep) {
		free(s->cur);
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
	free(s->cur);
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
	struct trace_cursor *c = &s->cur[t];
	if (!c->off)   /* not started: a stream never starts at offset 0 (the header) */
		trace_cursor_start(&p->prog, t, c);
	trace_program_next(&p->prog, c, out);
	if (out->kind == OP_END && p->prog.nops[t] > 0 && s->rep[t] + 1 < p->repeat) {
		s->rep[t]++;
		trace_cursor_start(&p->prog, t, c);
		trace_program_next(&p->prog, c, out);
	}
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
