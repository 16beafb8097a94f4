/* trace.c: Chrome / Perfetto trace events of a run (interface.md, --trace).
 * Each pCPU is a thread ("tid") of one process; each stretch of a vCPU on a pCPU
 * is a complete event ("ph":"X") named VM.vCPU. Coscheduling policies' mode
 * switches are instant events ("ph":"i", global scope); each stretch of a VM in
 * coscheduled mode (asman) or holding its pCPUs as a gang (gang, hybrid) is a span
 * on that VM's track of process 1 ("VMs"). Written to a temporary file and
 * renamed at the end (sim/outfile.h), so an interrupted run leaves no
 * half-written trace; "-" is standard output. */
#include "sim/trace.h"
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "sim/sim.h"

struct trace *trace_open(const char *path, int npcpus)
{
	struct trace *t = calloc(1, sizeof *t);
	if (!t)
		return NULL;
	t->slice_start = calloc((size_t)npcpus, sizeof *t->slice_start);
	t->last_runnable = t->last_idle = -1;
	if (!t->slice_start || outfile_open(&t->out, path) < 0) {
		free(t->slice_start);
		free(t);
		return NULL;
	}
	t->f = t->out.f;
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

/* The VMs' tracks (process 1), named at first use. */
static int vm_tracks(struct trace *t, struct sim *s)
{
	if (t->vm_start)
		return 1;
	t->nvms = s->nvms;
	t->vm_start = malloc((size_t)s->nvms * sizeof *t->vm_start);
	t->vm_span = calloc((size_t)s->nvms, sizeof *t->vm_span);
	if (!t->vm_start || !t->vm_span) {
		free(t->vm_start);
		free(t->vm_span);
		t->vm_start = NULL;
		t->vm_span = NULL;
		return 0;
	}
	fprintf(t->f, ",\n{\"name\":\"process_name\",\"ph\":\"M\",\"pid\":1,\"args\":{\"name\":\"VMs\"}}");
	for (int i = 0; i < s->nvms; i++) {
		t->vm_start[i] = -1;
		fprintf(t->f, ",\n{\"name\":\"thread_name\",\"ph\":\"M\",\"pid\":1,\"tid\":%d,\"args\":{\"name\":\"%s\"}}",
			i, s->vms[i].name);
	}
	return 1;
}

static void vm_span_close(struct trace *t, struct vm *vm, double end)
{
	double start = t->vm_start[vm->id];
	if (start >= 0 && end > start)
		fprintf(t->f, ",\n{\"name\":\"%s\",\"cat\":\"mode\",\"ph\":\"X\",\"pid\":1,\"tid\":%d,\"ts\":%.3f,\"dur\":%.3f,\"args\":{\"vm\":\"%s\"}}",
			t->vm_span[vm->id], vm->id, start, end - start, vm->name);
	t->vm_start[vm->id] = -1;
}

void trace_vm_begin(struct trace *t, struct sim *s, struct vm *vm, const char *name)
{
	if (!vm_tracks(t, s))
		return;
	if (t->vm_start[vm->id] >= 0)
		vm_span_close(t, vm, simtime_us(s->now));
	t->vm_start[vm->id] = simtime_us(s->now);
	t->vm_span[vm->id] = name;
}

void trace_vm_end(struct trace *t, struct sim *s, struct vm *vm)
{
	if (vm_tracks(t, s))
		vm_span_close(t, vm, simtime_us(s->now));
}

void trace_mode_switch(struct trace *t, struct sim *s, struct vm *vm, int on)
{
	fprintf(t->f, ",\n{\"name\":\"%s cosched %s\",\"cat\":\"mode\",\"ph\":\"i\",\"s\":\"g\",\"pid\":0,\"tid\":0,\"ts\":%.3f,\"args\":{\"vm\":\"%s\",\"on\":%s}}",
		vm->name, on ? "on" : "off", simtime_us(s->now), vm->name, on ? "true" : "false");
	if (on)
		trace_vm_begin(t, s, vm, "coscheduled");
	else
		trace_vm_end(t, s, vm);
}

void trace_long_wait(struct trace *t, struct sim *s, struct vcpu *v, unsigned long long cycles)
{
	if (!vm_tracks(t, s))
		return;
	fprintf(t->f, ",\n{\"name\":\"long wait\",\"cat\":\"spin\",\"ph\":\"i\",\"s\":\"t\",\"pid\":1,\"tid\":%d,\"ts\":%.3f,\"args\":{\"vcpu\":%d,\"cycles\":%llu}}",
		v->vm->id, simtime_us(s->now), v->idx, cycles);
}

void trace_counters(struct trace *t, struct sim *s)
{
	if (s->n_waiting == t->last_runnable && s->n_idle_pcpus == t->last_idle)
		return;
	t->last_runnable = s->n_waiting;
	t->last_idle = s->n_idle_pcpus;
	fprintf(t->f, ",\n{\"name\":\"vCPUs and pCPUs\",\"ph\":\"C\",\"pid\":0,\"ts\":%.3f,\"args\":{\"runnable waiting\":%d,\"idle pCPUs\":%d}}",
		simtime_us(s->now), s->n_waiting, s->n_idle_pcpus);
}

static void trace_free(struct trace *t)
{
	free(t->vm_start);
	free(t->vm_span);
	free(t->slice_start);
	free(t);
}

int trace_close(struct trace *t, struct sim *s)
{
	for (int i = 0; t->vm_start && i < t->nvms; i++)
		vm_span_close(t, &s->vms[i], simtime_us(s->end));
	fputs("\n]}\n", t->f);
	int err = outfile_commit(&t->out);
	trace_free(t);
	return err;
}

void trace_abort(struct trace *t)
{
	outfile_abort(&t->out);
	trace_free(t);
}
