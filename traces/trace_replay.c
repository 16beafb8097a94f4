/* trace_replay.c: loading a trace of any supported kind, turning it into guest
 * programs for replay (replay.h), and the summary figures of `vcpusim trace info`.
 *
 * The walk over a thread's events is shared: compute is the time a thread is busy
 * outside synchronisation (from the event that ends a wait to the one that starts
 * the next); a critical section is the time from acquiring the outermost lock to
 * releasing the last one held (inner locks are folded into the outer section, since
 * the guest model holds one lock at a time); region begin, region end and barrier
 * entry are team barriers (FORMAT.md, "Replay"). */
#include "traces/replay.h"
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define MAX_FILE_BYTES ((size_t)1 << 32)

struct trace *trace_load(const char *path, char *err, size_t errlen)
{
	size_t pl = strlen(path);
	if (pl > 5 && !strcmp(path + pl - 5, ".otf2"))
		return trace_load_otf2(path, err, errlen);
	int in = !strcmp(path, "-");
	FILE *f = in ? stdin : fopen(path, "rb");
	struct stat sb;
	if (!f || fstat(fileno(f), &sb) != 0) {
		snprintf(err, errlen, "%s: cannot open the trace: %s", path, strerror(errno));
		if (f && !in)
			fclose(f);
		return NULL;
	}
	if (S_ISDIR(sb.st_mode)) {
		snprintf(err, errlen, "%s: is a directory; expected a vcpusim trace file or an "
			 "OTF2 anchor file (*.otf2)", path);
		if (!in)
			fclose(f);
		return NULL;
	}
	if ((uint64_t)sb.st_size > MAX_FILE_BYTES) {
		snprintf(err, errlen, "%s: %lld bytes, larger than the 4 GiB this build reads",
			 path, (long long)sb.st_size);
		if (!in)
			fclose(f);
		return NULL;
	}
	/* the magic number first: a device or pipe (/dev/zero) has no size to check,
	 * and 4 GiB of something else is not read to find that out */
	size_t cap = S_ISREG(sb.st_mode) && sb.st_size > 8 ? (size_t)sb.st_size + 1 : 1 << 16, n = 0;
	unsigned char *buf = malloc(cap);
	if (!buf) {
		if (!in)
			fclose(f);
		snprintf(err, errlen, "%s: out of memory", path);
		return NULL;
	}
	size_t r;
	while (n < 8 && (r = fread(buf + n, 1, 8 - n, f)) > 0)
		n += r;
	if (n < 8 || memcmp(buf, TRACE_MAGIC, 8) != 0) {
		if (!in)
			fclose(f);
		struct trace *t = trace_decode(buf, n, path, err, errlen);   /* says why */
		free(buf);
		if (t) {
			trace_free(t);
			snprintf(err, errlen, "%s: not a vcpusim trace", path);
		}
		return NULL;
	}
	while ((r = fread(buf + n, 1, cap - n, f)) > 0) {
		n += r;
		if (n == cap) {   /* the file grew while we read it, or a pipe */
			if (cap >= MAX_FILE_BYTES)
				break;
			unsigned char *b = realloc(buf, cap * 2);
			if (!b)
				break;
			buf = b;
			cap *= 2;
		}
	}
	int rerr = ferror(f);
	if (!in)
		fclose(f);
	if (rerr || n == cap) {
		free(buf);
		snprintf(err, errlen, rerr ? "%s: read error" : "%s: larger than this build reads",
			 path);
		return NULL;
	}
	struct trace *t = trace_decode(buf, n, path, err, errlen);
	free(buf);
	return t;
}

/* ------------------------------------------------------------------ walk */

struct sink {
	void (*compute)(struct sink *s, uint64_t ns);
	void (*lock)(struct sink *s, uint32_t lock, uint64_t hold_ns);
	void (*barrier)(struct sink *s);
};

static void walk(const struct trace_thread *th, struct sink *s)
{
	int busy = 0, nheld = 0;
	uint64_t since = 0, acq = 0;
	uint32_t outer = 0;
	for (size_t k = 0; k < th->n; k++) {
		const struct trace_event *e = &th->ev[k];
		switch (e->kind) {
		case TEV_THREAD_BEGIN:
		case TEV_JOIN:
		case TEV_BARRIER_EXIT:
			busy = 1;
			since = e->t;
			break;
		case TEV_THREAD_END:
		case TEV_FORK:
			if (busy)
				s->compute(s, e->t - since);
			busy = 0;
			break;
		case TEV_REGION_BEGIN:
			if (busy)
				s->compute(s, e->t - since);
			s->barrier(s);
			busy = 1;
			since = e->t;
			break;
		case TEV_REGION_END:
		case TEV_BARRIER_ENTER:
			if (busy)
				s->compute(s, e->t - since);
			s->barrier(s);
			busy = 0;
			break;
		case TEV_LOCK_REQ:
			if (nheld == 0 && busy) {
				s->compute(s, e->t - since);
				busy = 0;
			}
			break;
		case TEV_LOCK_ACQ:
			if (nheld++ == 0) {
				acq = e->t;
				outer = e->arg;
			}
			break;
		case TEV_LOCK_REL:
			if (nheld > 0 && --nheld == 0) {
				s->lock(s, outer, e->t - acq);
				busy = 1;
				since = e->t;
			}
			break;
		}
	}
}

/* ------------------------------------------------------------- programs */

struct prog_sink {
	struct sink s;
	struct trace_program *p;
	int thread;
	double scale;
	int *lockmap;      /* trace lock -> op lock, -1 = unused so far */
	int oom;
	uint64_t barriers;
};

static struct op *new_op(struct prog_sink *ps)
{
	struct trace_program *p = ps->p;
	size_t n = p->nops[ps->thread];
	/* capacity: 16 below 16 ops, else the power of two at or above n */
	if (n == 0 || (n >= 16 && (n & (n - 1)) == 0)) {
		struct op *o = realloc(p->ops[ps->thread], (n ? n * 2 : 16) * sizeof *o);
		if (!o) {
			ps->oom = 1;
			return NULL;
		}
		p->ops[ps->thread] = o;
	}
	struct op *o = &p->ops[ps->thread][n];
	memset(o, 0, sizeof *o);
	p->nops[ps->thread] = n + 1;
	return o;
}

static simtime_t scaled(struct prog_sink *ps, uint64_t ns)
{
	double v = nearbyint((double)ns * ps->scale);
	return v > 4e18 ? (simtime_t)4e18 : (simtime_t)v;
}

static void prog_compute(struct sink *s, uint64_t ns)
{
	struct prog_sink *ps = (struct prog_sink *)s;
	simtime_t d = scaled(ps, ns);
	if (d <= 0 || ps->oom)
		return;
	size_t n = ps->p->nops[ps->thread];
	struct op *last = n ? &ps->p->ops[ps->thread][n - 1] : NULL;
	if (last && last->kind == OP_COMPUTE) {
		last->ns += d;
		return;
	}
	struct op *o = new_op(ps);
	if (o) {
		o->kind = OP_COMPUTE;
		o->ns = d;
	}
}

static void prog_lock(struct sink *s, uint32_t lock, uint64_t hold)
{
	struct prog_sink *ps = (struct prog_sink *)s;
	if (ps->oom)
		return;
	if (ps->lockmap[lock] < 0)
		ps->lockmap[lock] = ps->p->nlocks++;
	struct op *o = new_op(ps);
	if (o) {
		o->kind = OP_LOCK;
		o->lock = ps->lockmap[lock];
		simtime_t cs = scaled(ps, hold);
		o->cs_ns = cs > 0 ? cs : 1;
	}
}

static void prog_barrier(struct sink *s)
{
	struct prog_sink *ps = (struct prog_sink *)s;
	struct op *o = new_op(ps);
	if (o)
		o->kind = OP_BARRIER;
	ps->barriers++;
}

void trace_program_free(struct trace_program *p)
{
	if (!p)
		return;
	for (int i = 0; i < p->nthreads; i++)
		free(p->ops ? p->ops[i] : NULL);
	free(p->ops);
	free(p->nops);
	memset(p, 0, sizeof *p);
}

int trace_to_program(const struct trace *t, double time_scale, struct trace_program *p,
		     char *err, size_t errlen)
{
	memset(p, 0, sizeof *p);
	p->nthreads = t->nthreads;
	p->nops = calloc((size_t)t->nthreads, sizeof *p->nops);
	p->ops = calloc((size_t)t->nthreads, sizeof *p->ops);
	int *lockmap = malloc((t->nlocks ? t->nlocks : 1) * sizeof *lockmap);
	if (!p->nops || !p->ops || !lockmap) {
		free(lockmap);
		trace_program_free(p);
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	for (uint32_t l = 0; l < t->nlocks; l++)
		lockmap[l] = -1;
	struct prog_sink ps = { { prog_compute, prog_lock, prog_barrier }, p, 0, time_scale,
				lockmap, 0, 0 };
	uint64_t first = 0;
	for (int i = 0; i < t->nthreads; i++) {
		ps.thread = i;
		ps.barriers = 0;
		walk(&t->threads[i], &ps.s);
		if (ps.oom)
			break;
		if (i == 0)
			first = ps.barriers;
		else if (ps.barriers != first) {
			snprintf(err, errlen, "thread %d of the trace waits at %llu barriers, thread 0 "
				 "at %llu: a replay needs every thread at every barrier (regions run "
				 "by fewer threads than the trace has are not supported)", i,
				 (unsigned long long)ps.barriers, (unsigned long long)first);
			free(lockmap);
			trace_program_free(p);
			return -1;
		}
	}
	free(lockmap);
	if (ps.oom) {
		trace_program_free(p);
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	p->barriers = first;
	return 0;
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

void trace_stats(const struct trace *t, struct trace_stats *st)
{
	memset(st, 0, sizeof *st);
	struct stat_sink ss = { { st_compute, st_lock, st_barrier }, st };
	for (int i = 0; i < t->nthreads; i++) {
		const struct trace_thread *th = &t->threads[i];
		st->events += th->n;
		for (size_t k = 0; k < th->n; k++)
			if (th->ev[k].kind < TEV_KINDS)
				st->by_kind[th->ev[k].kind]++;
		walk(th, &ss.s);
	}
	st->regions = st->by_kind[TEV_REGION_BEGIN];
	st->barriers = st->by_kind[TEV_BARRIER_ENTER] + st->by_kind[TEV_REGION_END];
	st->acquisitions = st->by_kind[TEV_LOCK_ACQ];
	st->sync_points = st->barriers + st->regions + st->acquisitions;
	double cap = (double)t->nthreads * (double)t->duration_ns;
	st->compute_fraction = cap > 0 ? (double)st->compute_ns / cap : 0;
	st->mean_interval_ns = st->sync_points ? (double)st->compute_ns / (double)st->sync_points
					       : (double)st->compute_ns;
}
