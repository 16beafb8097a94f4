/* trace.c: Chrome / Perfetto trace events of a run (interface.md, --trace).
 * Each pCPU is a thread ("tid") of one process; each stretch of a vCPU on a pCPU
 * is a complete event ("ph":"X") named VM.vCPU. Written to a temporary file and
 * renamed at the end, so an interrupted run leaves no half-written trace. */
#include "sim/trace.h"
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "sim/sim.h"

struct trace *trace_open(const char *path, int npcpus)
{
	struct trace *t = calloc(1, sizeof *t);
	size_t n = strlen(path) + 32;
	t->path = strdup(path);
	t->tmp = malloc(n);
	snprintf(t->tmp, n, "%s.tmp.%d", path, (int)getpid());
	t->f = fopen(t->tmp, "w");
	t->slice_start = calloc((size_t)npcpus, sizeof *t->slice_start);
	if (!t->f || !t->path || !t->slice_start) {
		if (t->f)
			fclose(t->f);
		free(t->path);
		free(t->tmp);
		free(t->slice_start);
		free(t);
		return NULL;
	}
	fputs("{\"displayTimeUnit\":\"ns\",\"traceEvents\":[\n", t->f);
	fprintf(t->f, "{\"name\":\"process_name\",\"ph\":\"M\",\"pid\":0,\"args\":{\"name\":\"host\"}}");
	for (int i = 0; i < npcpus; i++)
		fprintf(t->f, ",\n{\"name\":\"thread_name\",\"ph\":\"M\",\"pid\":0,\"tid\":%d,\"args\":{\"name\":\"pCPU %d\"}}", i, i);
	return t;
}

void trace_slice_begin(struct trace *t, struct sim *s, struct pcpu *p, struct vcpu *v)
{
	t->slice_start[p->id] = simtime_us(s->now);
}

void trace_slice_end(struct trace *t, struct sim *s, struct pcpu *p, struct vcpu *v)
{
	double start = t->slice_start[p->id], end = simtime_us(s->now);
	if (end <= start)
		return;
	fprintf(t->f, ",\n{\"name\":\"%s.%d\",\"cat\":\"vcpu\",\"ph\":\"X\",\"pid\":0,\"tid\":%d,\"ts\":%.3f,\"dur\":%.3f,\"args\":{\"vm\":\"%s\",\"vcpu\":%d}}",
		v->vm->name, v->idx, p->id, start, end - start, v->vm->name, v->idx);
}

static void trace_free(struct trace *t)
{
	free(t->path);
	free(t->tmp);
	free(t->slice_start);
	free(t);
}

int trace_close(struct trace *t, struct sim *s)
{
	fputs("\n]}\n", t->f);
	int err = ferror(t->f);
	err |= fclose(t->f) != 0;
	if (!err)
		err = rename(t->tmp, t->path) != 0;
	if (err)
		unlink(t->tmp);
	trace_free(t);
	return err ? -1 : 0;
}

void trace_abort(struct trace *t)
{
	fclose(t->f);
	unlink(t->tmp);
	trace_free(t);
}
