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
 * (traces/replay.h), so they suffer preemption exactly as synthetic ones do.
 *
 * Threads the master creates do not exist before it creates them. A trace thread
 * whose thread_begin is no earlier than the master's first fork (libgomp's
 * gomp_team_start calls pthread_create from the first GOMP_parallel: libgomp/team.c)
 * starts with a blocking wait (OP_WAIT with block set: its vCPU halts, no spinning)
 * that the master's first fork releases (OP_SIGNAL of flag 0, which wakes it with an
 * IPI, ipi_ns later). So a created thread joins the run at a time set by the
 * master's progress, as on a real host, where the new thread is queued behind
 * whatever its CPU runs (wake_up_new_task), instead of all threads starting at
 * once in step. Only the first repetition waits (the threads exist afterwards). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>
#include "workloads/workload.h"
#include "traces/replay.h"

struct cache_entry;
struct workload_params {
	struct trace_program prog;
	int64_t repeat;
	struct cache_entry *cached;   /* prog is borrowed from the cache (below) */
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

/* Sweep workers run run after run in one process (sweep/pool.c): a trace that many
 * runs replay is loaded once per worker, not once per run. Off unless
 * trace_workload_cache(1); an entry is used again only while the file is the same
 * (device, inode, size, modification time) and with the same time_scale. A loaded
 * program is read-only while replayed, so runs share it; an entry is reference
 * counted and only an unused one is replaced. */
static int trace_cache_on;
enum { TRACE_CACHE = 8 };
static struct cache_entry {
	char *path;
	struct stat st;
	double scale;
	struct trace_program prog;
	int used, refs;
} trace_cache[TRACE_CACHE];

void trace_workload_cache(int on)
{
	trace_cache_on = on;
}

static int same_file(const struct stat *a, const struct stat *b)
{
	return a->st_dev == b->st_dev && a->st_ino == b->st_ino && a->st_size == b->st_size &&
	       a->st_mtim.tv_sec == b->st_mtim.tv_sec && a->st_mtim.tv_nsec == b->st_mtim.tv_nsec;
}

/* Loads path into *prog, from or into the cache; returns the cache entry it borrows
 * (NULL: *prog is the caller's own), or sets *failed with a message in err. */
static struct cache_entry *cached_load(const char *path, double scale, struct trace_program *prog,
				       char *err, size_t errlen, int *failed)
{
	struct stat st;
	*failed = 0;
	if (!trace_cache_on || stat(path, &st) < 0) {
		*failed = trace_program_load(path, scale, prog, err, errlen) < 0;
		return NULL;
	}
	struct cache_entry *free_slot = NULL;
	for (int i = 0; i < TRACE_CACHE; i++) {
		struct cache_entry *e = &trace_cache[i];
		if (e->used && e->scale == scale && !strcmp(e->path, path) && same_file(&e->st, &st)) {
			e->refs++;
			*prog = e->prog;
			return e;
		}
		if (!free_slot && (!e->used || e->refs == 0))
			free_slot = e;
	}
	if (trace_program_load(path, scale, prog, err, errlen) < 0) {
		*failed = 1;
		return NULL;
	}
	char *p = strdup(path);
	if (!free_slot || !p) {
		free(p);
		return NULL;   /* every entry is in use: the caller owns this one */
	}
	if (free_slot->used) {
		trace_program_free(&free_slot->prog);
		free(free_slot->path);
	}
	*free_slot = (struct cache_entry){ .path = p, .st = st, .scale = scale, .prog = *prog,
					   .used = 1, .refs = 1 };
	return free_slot;
}

static void trace_free_params(struct workload_params *p);

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
	int failed;
	p->cached = cached_load(real, scale, &p->prog, err, sizeof err, &failed);
	free(real);
	if (failed) {
		free(p);
		jp_fail(jp, fpath, "%s", err);
		return NULL;
	}
	if (p->prog.nthreads != vcpus) {
		jp_fail(jp, fpath, "trace has %d thread%s, VM has %d vCPU%s", p->prog.nthreads,
			p->prog.nthreads == 1 ? "" : "s", vcpus, vcpus == 1 ? "" : "s");
		trace_free_params(p);
		return NULL;
	}
	p->repeat = repeat;
	return p;
}

static void trace_free_params(struct workload_params *p)
{
	if (!p)
		return;
	if (p->cached)
		p->cached->refs--;   /* the cache keeps it for the next run */
	else
		trace_program_free(&p->prog);
	free(p);
}

static int trace_locks(const struct workload_params *p)
{
	return p->prog.nlocks;
}

/* Flag 0: the master's first fork, when any thread is created by it. */
static int trace_spawns(const struct workload_params *p)
{
	for (int i = 1; i < p->prog.nthreads; i++)
		if (trace_program_spawned(&p->prog, i))
			return 1;
	return 0;
}

static int trace_flags(const struct workload_params *p, int threads)
{
	(void)threads;
	return trace_spawns(p);
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
	if (!c->off) {   /* not started: a stream never starts at offset 0 (the header) */
		trace_cursor_start(&p->prog, t, c);
		if (t == 0)
			c->fork_signal = trace_spawns(p);
		else if (trace_program_spawned(&p->prog, t)) {
			out->kind = OP_WAIT;   /* until the master creates it */
			out->flag = 0;
			out->value = 1;
			out->block = 1;
			return;
		}
	}
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
	.flags = trace_flags,
	.start = trace_start,
	.stop = trace_stop,
	.next_op = trace_next_op,
};
