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

const char *workload_time_keys(const char *kind)
{
	static const char *const k[][2] = {
		{ "bsp", "workload.grain_us, or cs_ns with locks_per_phase" },
		{ "npb", "workload.interval_us, setup_interval_us, lock_hold_ns" },
		{ "io", "workload.think_us, service_us" },
		{ "mixed", "workload.burst_us, sleep_us, think_ms" },
		{ "trace", "workload.time_scale" },
	};
	for (size_t i = 0; i < sizeof k / sizeof *k; i++)
		if (!strcmp(k[i][0], kind))
			return k[i][1];
	return "the workload's durations";
}

int workload_takes_no_time(const struct workload_kind *wk, const struct workload_params *wp,
			   int threads)
{
	void *st = wk->start(wp, threads);
	gsl_rng *rng = gsl_rng_alloc(gsl_rng_mt19937);
	int zero = st && rng;
	/* the first thread at length, a few ops of the others (a VM of many vCPUs) */
	for (int t = 0; t < threads && zero; t++)
		for (int i = 0, n = t ? 64 : 10000; i < n && zero; i++) {
			struct op op;
			memset(&op, 0, sizeof op);
			wk->next_op(st, wp, t, rng, &op);
			/* the ops the guest runs on without an event (models/guest.c,
			 * next_op): a compute of 0 ns, a signal */
			zero = (op.kind == OP_COMPUTE && op.ns <= 0) || op.kind == OP_SIGNAL;
		}
	if (rng)
		gsl_rng_free(rng);
	if (st)
		wk->stop(st);
	return zero;
}
