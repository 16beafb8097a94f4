/* results.h: the results of a run (interface.md, "Results JSON"), and the
 * human-readable summary `vcpusim run` prints without -o. */
#ifndef VCPUSIM_RESULTS_H
#define VCPUSIM_RESULTS_H
#include <stdio.h>
#include <cjson/cJSON.h>

struct sim;
struct vm;

cJSON *results_build(struct sim *s, double wall_s);
void results_print_summary(FILE *f, struct sim *s, double wall_s);
/* Wake-to-run latency percentile (0..1) of a VM, in ns. */
double results_wake_latency_ns(const struct vm *vm, double q);

#endif
