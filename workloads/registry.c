/* registry.c: the built-in workload kinds. Adding one is one line here. */
#include <string.h>
#include "workloads/workload.h"

extern const struct workload_kind workload_cpu_bound, workload_bsp, workload_io, workload_npb,
	workload_mixed, workload_trace;

const struct workload_kind *const workload_kinds[] = {
	&workload_cpu_bound,
	&workload_bsp,
	&workload_io,
	&workload_npb,
	&workload_mixed,
	&workload_trace,
	NULL,
};

const struct workload_kind *workload_find(const char *name)
{
	for (int i = 0; workload_kinds[i]; i++)
		if (!strcmp(workload_kinds[i]->name, name))
			return workload_kinds[i];
	return NULL;
}
