/* trace.h: `run --trace`: the simulated schedule as Chrome / Perfetto trace events
 * (JSON Trace Event Format): a track per pCPU, a state track and a wait track per
 * vCPU, the VMs' mode spans, host counters and the run's metadata. */
#ifndef VCPUSIM_TRACE_H
#define VCPUSIM_TRACE_H
#include <stdio.h>
#include "sim/outfile.h"

struct sim;
struct pcpu;
struct vcpu;
struct vm;

struct trace {
	FILE *f;                /* out.f */
	struct outfile out;     /* sim/outfile.h */
	int npcpus;
	double from_us, to_us;  /* only what overlaps [from, to) is written */
	double *slice_start;    /* per pCPU, us */
	double *vm_start;       /* per VM: start of its open span (us), < 0 if none;
	                           allocated at first use (tracks()), with the rest below */
	const char **vm_span;   /* per VM: name of its open span */
	int nvms, nvcpus;
	signed char *vstate;    /* per vCPU: enum in trace.c, the state of its open span */
	double *vsince;         /* per vCPU: start of that span (us) */
	int last_runnable, last_idle;  /* counters last written (-1: none yet) */
	int pend_runnable, pend_idle;  /* counters before the window, written at its start */
	int host_named;         /* the host-activity tracks are named */
};

/* Perfetto reserves pid 0 and tid 0 (the idle task): the host is pid 1 (its pCPUs
 * and their host-activity tracks), the VMs' overview pid 2, VM i pid 3 + i; tids
 * start here, above every pid. */
#define TRACE_TID_BASE 100000

struct trace *trace_open(const char *path, int npcpus);
/* Restricts the trace to [from_ms, to_ms) of simulated time (--trace-from/--trace-to):
 * spans are clipped to it, instants and counters outside it left out. */
void trace_window(struct trace *t, double from_ms, double to_ms);
void trace_slice_begin(struct trace *t, struct sim *s, struct pcpu *p, struct vcpu *v);
void trace_slice_end(struct trace *t, struct sim *s, struct pcpu *p, struct vcpu *v);
/* v's scheduling or guest state may have changed (blocked, woken, started or
 * stopped spinning): its state track (running, runnable, blocked, spinning). */
void trace_vcpu_state(struct trace *t, struct sim *s, struct vcpu *v);
/* A coscheduling policy switched vm's mode (on = coscheduled): an instant event on
 * the host and a "coscheduled" span on the VM's track (process "VMs"). */
void trace_mode_switch(struct trace *t, struct sim *s, struct vm *vm, int on);
/* A span named `name` (a string that outlives the trace) on vm's track from now
 * until trace_vm_end, the next trace_vm_begin or the end of the run. */
void trace_vm_begin(struct trace *t, struct sim *s, struct vm *vm, const char *name);
void trace_vm_end(struct trace *t, struct sim *s, struct vm *vm);
/* A long spinlock wait of vCPU v ended now after `cycles`: a span on v's wait track. */
void trace_long_wait(struct trace *t, struct sim *s, struct vcpu *v, unsigned long long cycles);
/* Counter track "host": runnable-but-waiting vCPUs and idle pCPUs, written when
 * they change. */
void trace_counters(struct trace *t, struct sim *s);
/* Host activity on pCPU p began or (begin 0) ended: a span on p's activity track. */
void trace_host_activity(struct trace *t, struct sim *s, struct pcpu *p, int begin);
/* Closes the open spans, writes the metadata (scenario, policy, seed, version) and
 * the closing bracket, and renames into place; returns 0 or -1. */
int trace_close(struct trace *t, struct sim *s);
void trace_abort(struct trace *t);
/* Writes s as a JSON string, quotes included (also for `kvm --trace`). */
void trace_put_jstr(FILE *f, const char *s);

#endif
