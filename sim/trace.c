/* trace.c: Chrome / Perfetto trace events of a run (`run --trace`, docs/scenario.md).
 *
 * Processes and tracks (the Trace Event Format's pid/tid; Perfetto reserves pid 0
 * and tid 0 for the kernel's idle task, so neither is used, and every tid is
 * unique across processes, because Perfetto's importer takes a tid seen under
 * another pid for a new thread):
 * - "host" (pid 1): a track per pCPU, and beside it the pCPU's host activity
 *   (interrupt- and task-like work of the host, sim/sim.c); each stretch of a vCPU on it is a complete
 *   event ("ph":"X", cat "vcpu") named VM.vCPU, with args vm, vcpu and pcpu; the
 *   counters of runnable-but-waiting vCPUs and idle pCPUs; coscheduling mode
 *   switches as instants.
 * - "VMs" (pid 2): a track per VM with its mode spans: coscheduled (asman) or held
 *   as a gang (gang, hybrid).
 * - one process per VM (pid 3 + VM index): per vCPU a state track, spans named
 *   running, spinning (running a guest spin loop: lock, barrier or hand-off),
 *   runnable (waiting for a pCPU) or blocked (halted: futex sleep, I/O, parked
 *   ticket), cat "state", and a wait track with each long spinlock wait (at least
 *   guest.long_wait_cycles) as a span from its request to its acquisition.
 * - metadata (top-level "metadata", and the host's process labels): scenario,
 *   policy, seed, vcpusim version, and the window.
 * --trace-from/--trace-to keep only [from, to): spans are clipped to it, instants
 * outside it left out, the counters' values at its start written there.
 * Names from the scenario are JSON-escaped. Written to a temporary file and
 * renamed at the end (sim/outfile.h), so an interrupted run leaves no half-written
 * trace; "-" is standard output. */
#include "sim/trace.h"
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "sim/sim.h"

enum { PID_HOST = 1, PID_VMS = 2, PID_VM0 = 3 };

enum vstate { VS_NONE = -1, VS_RUNNING, VS_SPINNING, VS_RUNNABLE, VS_BLOCKED, VS_DONE };
static const char *const vstate_names[] = { "running", "spinning", "runnable", "blocked" };

static int tid_pcpu(const struct trace *t, int p) { return TRACE_TID_BASE + p; }
static int tid_vm(const struct trace *t, int vm) { return TRACE_TID_BASE + t->npcpus + vm; }
static int tid_vcpu(const struct trace *t, int id) { return TRACE_TID_BASE + t->npcpus + t->nvms + id; }
static int tid_wait(const struct trace *t, int id)
{
	return TRACE_TID_BASE + t->npcpus + t->nvms + t->nvcpus + id;
}
static int tid_hostact(const struct trace *t, int p)
{
	return TRACE_TID_BASE + t->npcpus + t->nvms + 2 * t->nvcpus + p;
}

void trace_put_jstr(FILE *f, const char *s)
{
	fputc('"', f);
	for (const unsigned char *c = (const unsigned char *)s; *c; c++) {
		if (*c == '"' || *c == '\\')
			fprintf(f, "\\%c", *c);
		else if (*c < 0x20)
			fprintf(f, "\\u%04x", *c);
		else
			fputc(*c, f);
	}
	fputc('"', f);
}

static void meta_name(FILE *f, const char *what, int pid, int tid, const char *name)
{
	fprintf(f, ",\n{\"name\":\"%s\",\"ph\":\"M\",\"pid\":%d", what, pid);
	if (tid >= 0)
		fprintf(f, ",\"tid\":%d", tid);
	fputs(",\"args\":{\"name\":", f);
	trace_put_jstr(f, name);
	fputs("}}", f);
}

static void meta_sort(FILE *f, const char *what, int pid, int tid, int index)
{
	fprintf(f, ",\n{\"name\":\"%s\",\"ph\":\"M\",\"pid\":%d", what, pid);
	if (tid >= 0)
		fprintf(f, ",\"tid\":%d", tid);
	fprintf(f, ",\"args\":{\"sort_index\":%d}}", index);
}

/* Clips [*a, *b) to the window; 0 if nothing is left. */
static int clip(const struct trace *t, double *a, double *b)
{
	if (*a < t->from_us)
		*a = t->from_us;
	if (*b > t->to_us)
		*b = t->to_us;
	return *b > *a;
}

static int inside(const struct trace *t, double ts)
{
	return ts >= t->from_us && ts < t->to_us;
}

struct trace *trace_open(const char *path, int npcpus)
{
	struct trace *t = calloc(1, sizeof *t);
	if (!t)
		return NULL;
	t->slice_start = calloc((size_t)npcpus, sizeof *t->slice_start);
	t->npcpus = npcpus;
	t->from_us = 0;
	t->to_us = INFINITY;
	t->last_runnable = t->last_idle = t->pend_runnable = t->pend_idle = -1;
	if (!t->slice_start || outfile_open(&t->out, path) < 0) {
		free(t->slice_start);
		free(t);
		return NULL;
	}
	t->f = t->out.f;
	fputs("{\"displayTimeUnit\":\"ns\",\"traceEvents\":[\n", t->f);
	fprintf(t->f, "{\"name\":\"process_name\",\"ph\":\"M\",\"pid\":%d,\"args\":{\"name\":\"host\"}}",
		PID_HOST);
	meta_sort(t->f, "process_sort_index", PID_HOST, -1, 0);
	for (int i = 0; i < npcpus; i++) {
		char name[32];
		snprintf(name, sizeof name, "pCPU %d", i);
		meta_name(t->f, "thread_name", PID_HOST, tid_pcpu(t, i), name);
		meta_sort(t->f, "thread_sort_index", PID_HOST, tid_pcpu(t, i), 2 * i);
	}
	return t;
}

void trace_window(struct trace *t, double from_ms, double to_ms)
{
	t->from_us = from_ms > 0 ? from_ms * 1e3 : 0;
	t->to_us = to_ms > 0 && isfinite(to_ms) ? to_ms * 1e3 : INFINITY;
}

/* The VMs' and vCPUs' tracks, named at first use (the trace is opened before the
 * machine is known to it). */
static int tracks(struct trace *t, struct sim *s)
{
	if (t->vm_start)
		return 1;
	t->nvms = s->nvms;
	t->nvcpus = s->nvcpus;
	t->vm_start = malloc((size_t)(s->nvms ? s->nvms : 1) * sizeof *t->vm_start);
	t->vm_span = calloc((size_t)(s->nvms ? s->nvms : 1), sizeof *t->vm_span);
	t->vstate = malloc((size_t)(s->nvcpus ? s->nvcpus : 1));
	t->vsince = calloc((size_t)(s->nvcpus ? s->nvcpus : 1), sizeof *t->vsince);
	if (!t->vm_start || !t->vm_span || !t->vstate || !t->vsince) {
		free(t->vm_start);
		free(t->vm_span);
		free(t->vstate);
		free(t->vsince);
		t->vm_start = NULL;
		t->vm_span = NULL;
		t->vstate = NULL;
		t->vsince = NULL;
		return 0;
	}
	fprintf(t->f, ",\n{\"name\":\"process_name\",\"ph\":\"M\",\"pid\":%d,\"args\":{\"name\":\"VMs\"}}",
		PID_VMS);
	meta_sort(t->f, "process_sort_index", PID_VMS, -1, 1);
	for (int i = 0; i < s->nvms; i++) {
		t->vm_start[i] = -1;
		meta_name(t->f, "thread_name", PID_VMS, tid_vm(t, i), s->vms[i].name);
		meta_sort(t->f, "thread_sort_index", PID_VMS, tid_vm(t, i), i);
		char name[300];
		snprintf(name, sizeof name, "VM %s", s->vms[i].name);
		meta_name(t->f, "process_name", PID_VM0 + i, -1, name);
		meta_sort(t->f, "process_sort_index", PID_VM0 + i, -1, 2 + i);
	}
	for (int k = 0; k < s->nvcpus; k++) {
		const struct vcpu *v = s->vcpus[k];
		char name[64];
		t->vstate[k] = VS_NONE;
		snprintf(name, sizeof name, "vCPU %d", v->idx);
		meta_name(t->f, "thread_name", PID_VM0 + v->vm->id, tid_vcpu(t, k), name);
		meta_sort(t->f, "thread_sort_index", PID_VM0 + v->vm->id, tid_vcpu(t, k), 2 * v->idx);
		snprintf(name, sizeof name, "vCPU %d long waits", v->idx);
		meta_name(t->f, "thread_name", PID_VM0 + v->vm->id, tid_wait(t, k), name);
		meta_sort(t->f, "thread_sort_index", PID_VM0 + v->vm->id, tid_wait(t, k), 2 * v->idx + 1);
	}
	return 1;
}

/* ------------------------------------------------------------ vCPU states */

static enum vstate state_of(const struct vcpu *v)
{
	if (v->g.st == G_DONE)
		return VS_DONE;
	switch (v->state) {
	case VCPU_RUNNING:
		return v->g.st == G_LOCK_SPIN || v->g.st == G_BARRIER_SPIN || v->g.st == G_P2P_SPIN
			       ? VS_SPINNING : VS_RUNNING;
	case VCPU_RUNNABLE:
		return VS_RUNNABLE;
	default:
		return VS_BLOCKED;
	}
}

static void state_span(struct trace *t, const struct vcpu *v, double end)
{
	int k = v->id;
	double a = t->vsince[k], b = end;
	if (t->vstate[k] < 0 || t->vstate[k] >= VS_DONE || !clip(t, &a, &b))
		return;
	fprintf(t->f, ",\n{\"name\":\"%s\",\"cat\":\"state\",\"ph\":\"X\",\"pid\":%d,\"tid\":%d,\"ts\":%.3f,\"dur\":%.3f}",
		vstate_names[t->vstate[k]], PID_VM0 + v->vm->id, tid_vcpu(t, k), a, b - a);
}

void trace_vcpu_state(struct trace *t, struct sim *s, struct vcpu *v)
{
	if (!tracks(t, s))
		return;
	enum vstate st = state_of(v);
	int k = v->id;
	if (st == t->vstate[k])
		return;
	double now = simtime_us(s->now);
	state_span(t, v, now);
	t->vstate[k] = (signed char)st;
	t->vsince[k] = now;
}

/* ------------------------------------------------------------ pCPU slices */

void trace_slice_begin(struct trace *t, struct sim *s, struct pcpu *p, struct vcpu *v)
{
	t->slice_start[p->id] = simtime_us(s->now);
	trace_vcpu_state(t, s, v);
}

void trace_slice_end(struct trace *t, struct sim *s, struct pcpu *p, struct vcpu *v)
{
	double start = t->slice_start[p->id], end = simtime_us(s->now);
	trace_vcpu_state(t, s, v);
	if (!clip(t, &start, &end))
		return;
	fputs(",\n{\"name\":", t->f);
	char name[300];
	snprintf(name, sizeof name, "%s.%d", v->vm->name, v->idx);
	trace_put_jstr(t->f, name);
	fprintf(t->f, ",\"cat\":\"vcpu\",\"ph\":\"X\",\"pid\":%d,\"tid\":%d,\"ts\":%.3f,\"dur\":%.3f,\"args\":{\"vm\":",
		PID_HOST, tid_pcpu(t, p->id), start, end - start);
	trace_put_jstr(t->f, v->vm->name);
	fprintf(t->f, ",\"vcpu\":%d,\"pcpu\":%d}}", v->idx, p->id);
}

/* ------------------------------------------------------------ VM spans */

static void vm_span_close(struct trace *t, struct vm *vm, double end)
{
	double start = t->vm_start[vm->id];
	t->vm_start[vm->id] = -1;
	if (start < 0 || !clip(t, &start, &end))
		return;
	fputs(",\n{\"name\":", t->f);
	trace_put_jstr(t->f, t->vm_span[vm->id]);
	fprintf(t->f, ",\"cat\":\"mode\",\"ph\":\"X\",\"pid\":%d,\"tid\":%d,\"ts\":%.3f,\"dur\":%.3f,\"args\":{\"vm\":",
		PID_VMS, tid_vm(t, vm->id), start, end - start);
	trace_put_jstr(t->f, vm->name);
	fputs("}}", t->f);
}

void trace_vm_begin(struct trace *t, struct sim *s, struct vm *vm, const char *name)
{
	if (!tracks(t, s))
		return;
	if (t->vm_start[vm->id] >= 0)
		vm_span_close(t, vm, simtime_us(s->now));
	t->vm_start[vm->id] = simtime_us(s->now);
	t->vm_span[vm->id] = name;
}

void trace_vm_end(struct trace *t, struct sim *s, struct vm *vm)
{
	if (tracks(t, s))
		vm_span_close(t, vm, simtime_us(s->now));
}

void trace_mode_switch(struct trace *t, struct sim *s, struct vm *vm, int on)
{
	double now = simtime_us(s->now);
	if (inside(t, now)) {
		char name[300];
		snprintf(name, sizeof name, "%s cosched %s", vm->name, on ? "on" : "off");
		fputs(",\n{\"name\":", t->f);
		trace_put_jstr(t->f, name);
		fprintf(t->f, ",\"cat\":\"mode\",\"ph\":\"i\",\"s\":\"p\",\"pid\":%d,\"tid\":%d,\"ts\":%.3f,\"args\":{\"vm\":",
			PID_HOST, tid_pcpu(t, 0), now);
		trace_put_jstr(t->f, vm->name);
		fprintf(t->f, ",\"on\":%s}}", on ? "true" : "false");
	}
	if (on)
		trace_vm_begin(t, s, vm, "coscheduled");
	else
		trace_vm_end(t, s, vm);
}

void trace_long_wait(struct trace *t, struct sim *s, struct vcpu *v, unsigned long long cycles)
{
	if (!tracks(t, s))
		return;
	double end = simtime_us(s->now);
	double start = end - (double)cycles / (s->host.ghz * 1e3);
	if (start < 0)
		start = 0;
	double a = start, b = end;
	if (!clip(t, &a, &b))
		return;
	fprintf(t->f, ",\n{\"name\":\"long wait\",\"cat\":\"spin\",\"ph\":\"X\",\"pid\":%d,\"tid\":%d,\"ts\":%.3f,\"dur\":%.3f,\"args\":{\"vcpu\":%d,\"cycles\":%llu}}",
		PID_VM0 + v->vm->id, tid_wait(t, v->id), a, b - a, v->idx, cycles);
}

/* ------------------------------------------------------------ counters */

static void counters_at(struct trace *t, double ts, int runnable, int idle)
{
	fprintf(t->f, ",\n{\"name\":\"vCPUs and pCPUs\",\"ph\":\"C\",\"pid\":%d,\"ts\":%.3f,\"args\":{\"runnable waiting\":%d,\"idle pCPUs\":%d}}",
		PID_HOST, ts, runnable, idle);
	t->last_runnable = runnable;
	t->last_idle = idle;
}

void trace_counters(struct trace *t, struct sim *s)
{
	double now = simtime_us(s->now);
	if (now < t->from_us) {   /* before the window: its value at the window's start */
		t->pend_runnable = s->n_waiting;
		t->pend_idle = s->n_idle_pcpus;
		return;
	}
	if (now >= t->to_us)
		return;
	if (t->pend_runnable >= 0) {
		if (now > t->from_us)
			counters_at(t, t->from_us, t->pend_runnable, t->pend_idle);
		t->pend_runnable = t->pend_idle = -1;
	}
	if (s->n_waiting == t->last_runnable && s->n_idle_pcpus == t->last_idle)
		return;
	counters_at(t, now, s->n_waiting, s->n_idle_pcpus);
}

static void trace_free(struct trace *t)
{
	free(t->vm_start);
	free(t->vm_span);
	free(t->vstate);
	free(t->vsince);
	free(t->slice_start);
	free(t);
}

int trace_close(struct trace *t, struct sim *s)
{
	double end = simtime_us(s->end);
	if (tracks(t, s)) {
		for (int i = 0; i < t->nvms; i++)
			vm_span_close(t, &s->vms[i], end);
		for (int k = 0; k < t->nvcpus; k++)
			state_span(t, s->vcpus[k], end);
	}
	if (t->pend_runnable >= 0 && t->from_us < end)
		counters_at(t, t->from_us, t->pend_runnable, t->pend_idle);
	/* The run's identity: as process labels (shown by Perfetto) and metadata. */
	char labels[600];
	snprintf(labels, sizeof labels, "scenario %s, policy %s, seed %llu, vcpusim %s",
		 s->sc->name ? s->sc->name : "", s->ops->name, (unsigned long long)s->sc->seed,
		 VCPUSIM_VERSION);
	fprintf(t->f, ",\n{\"name\":\"process_labels\",\"ph\":\"M\",\"pid\":%d,\"args\":{\"labels\":",
		PID_HOST);
	trace_put_jstr(t->f, labels);
	fputs("}}\n],\"metadata\":{\"clock\":\"simulated\",\"scenario\":", t->f);
	trace_put_jstr(t->f, s->sc->name ? s->sc->name : "");
	fputs(",\"policy\":", t->f);
	trace_put_jstr(t->f, s->ops->name);
	fprintf(t->f, ",\"seed\":%llu,\"version\":", (unsigned long long)s->sc->seed);
	trace_put_jstr(t->f, VCPUSIM_VERSION);
	fprintf(t->f, ",\"window_ms\":[%.6f,", t->from_us / 1e3);
	if (isfinite(t->to_us))
		fprintf(t->f, "%.6f]", t->to_us / 1e3);
	else
		fprintf(t->f, "%.6f]", end / 1e3);
	fputs("}}\n", t->f);
	int err = outfile_commit(&t->out);
	trace_free(t);
	return err;
}

void trace_abort(struct trace *t)
{
	outfile_abort(&t->out);
	trace_free(t);
}

/* Host activity on a pCPU (sim/sim.c): one span per activity on that pCPU's
 * activity track (process "host", beside the pCPU's own track), written when it
 * ends. A separate track, since the stalled vCPU's slice goes on on the pCPU's. */
void trace_host_activity(struct trace *t, struct sim *s, struct pcpu *p, int begin)
{
	if (begin || !tracks(t, s))
		return;
	if (!t->host_named) {
		t->host_named = 1;
		for (int i = 0; i < t->npcpus; i++) {
			char name[48];
			snprintf(name, sizeof name, "pCPU %d host activity", i);
			meta_name(t->f, "thread_name", PID_HOST, tid_hostact(t, i), name);
			meta_sort(t->f, "thread_sort_index", PID_HOST, tid_hostact(t, i), 2 * i + 1);
		}
	}
	double start = simtime_us(p->host_since), end = simtime_us(s->now);
	if (!clip(t, &start, &end))
		return;
	fprintf(t->f, ",\n{\"name\":\"host %s\",\"cat\":\"host\",\"ph\":\"X\",\"pid\":%d,\"tid\":%d,\"ts\":%.3f,\"dur\":%.3f}",
		p->host_task ? "task" : "irq", PID_HOST, tid_hostact(t, p->id), start, end - start);
}
