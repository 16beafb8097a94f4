/* trace.h: `run --trace FILE`: the simulated schedule as Chrome / Perfetto trace
 * events (JSON Trace Event Format), one track per pCPU. */
#ifndef VCPUSIM_TRACE_H
#define VCPUSIM_TRACE_H
#include <stdio.h>
#include "sim/outfile.h"

struct sim;
struct pcpu;
struct vcpu;
struct vm;

struct trace {
	FILE *f;               /* out.f */
	struct outfile out;
	int first;
	double *slice_start;   /* per pCPU, us */
	double *vm_start;      /* per VM: start of its open span (us), < 0 if none;
	                          allocated at first use, with vm_span */
	const char **vm_span;  /* per VM: name of its open span */
	int nvms;
	int last_runnable, last_idle;  /* counters last written (-1: none yet) */
};

struct trace *trace_open(const char *path, int npcpus);
void trace_slice_begin(struct trace *t, struct sim *s, struct pcpu *p, struct vcpu *v);
void trace_slice_end(struct trace *t, struct sim *s, struct pcpu *p, struct vcpu *v);
/* A coscheduling policy switched vm's mode (on = coscheduled): an instant event on
 * the pCPU timeline and a "coscheduled" span on the VM's track (process "VMs"). */
void trace_mode_switch(struct trace *t, struct sim *s, struct vm *vm, int on);
/* A span named `name` (a string that outlives the trace) on vm's track from now
 * until trace_vm_end, the next trace_vm_begin or the end of the run. */
void trace_vm_begin(struct trace *t, struct sim *s, struct vm *vm, const char *name);
void trace_vm_end(struct trace *t, struct sim *s, struct vm *vm);
/* A long spinlock wait of vCPU v ended: an instant event on v's VM track. */
void trace_long_wait(struct trace *t, struct sim *s, struct vcpu *v, unsigned long long cycles);
/* Counter track "host": runnable-but-waiting vCPUs and idle pCPUs, written when
 * they change. */
void trace_counters(struct trace *t, struct sim *s);
/* Writes the closing bracket and renames into place; returns 0 or -1. */
int trace_close(struct trace *t, struct sim *s);
void trace_abort(struct trace *t);

#endif
