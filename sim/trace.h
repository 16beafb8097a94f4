/* trace.h: `run --trace FILE`: the simulated schedule as Chrome / Perfetto trace
 * events (JSON Trace Event Format), one track per pCPU. */
#ifndef VCPUSIM_TRACE_H
#define VCPUSIM_TRACE_H
#include <stdio.h>

struct sim;
struct pcpu;
struct vcpu;
struct vm;

struct trace {
	FILE *f;
	char *path, *tmp;
	int first;
	double *slice_start;   /* per pCPU, us */
	double *mode_start;    /* per VM, us; < 0 when not coscheduled (allocated at first use) */
	int nvms;
};

struct trace *trace_open(const char *path, int npcpus);
void trace_slice_begin(struct trace *t, struct sim *s, struct pcpu *p, struct vcpu *v);
void trace_slice_end(struct trace *t, struct sim *s, struct pcpu *p, struct vcpu *v);
/* A coscheduling policy switched vm's mode (on = coscheduled): an instant event on
 * the pCPU timeline and a "coscheduled" span on the VM's track (process "VMs"). */
void trace_mode_switch(struct trace *t, struct sim *s, struct vm *vm, int on);
/* Writes the closing bracket and renames into place; returns 0 or -1. */
int trace_close(struct trace *t, struct sim *s);
void trace_abort(struct trace *t);

#endif
