/* trace.h: `run --trace FILE`: the simulated schedule as Chrome / Perfetto trace
 * events (JSON Trace Event Format), one track per pCPU. */
#ifndef VCPUSIM_TRACE_H
#define VCPUSIM_TRACE_H
#include <stdio.h>

struct sim;
struct pcpu;
struct vcpu;

struct trace {
	FILE *f;
	char *path, *tmp;
	int first;
	double *slice_start;   /* per pCPU, us */
};

struct trace *trace_open(const char *path, int npcpus);
void trace_slice_begin(struct trace *t, struct sim *s, struct pcpu *p, struct vcpu *v);
void trace_slice_end(struct trace *t, struct sim *s, struct pcpu *p, struct vcpu *v);
/* Writes the closing bracket and renames into place; returns 0 or -1. */
int trace_close(struct trace *t, struct sim *s);
void trace_abort(struct trace *t);

#endif
