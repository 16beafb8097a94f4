/* cpu_bound.c: endless computation in every vCPU (model.md, "Non-concurrent
 * work"). Its throughput is work_ms per simulated second. One op of 10^6 s: the
 * thread never asks for another, so it costs no events of its own. */
#include <stdlib.h>
#include "workloads/workload.h"

static const char *const keys[] = { "kind", NULL };

static struct workload_params *parse(struct jp *jp, const cJSON *w, const char *path, int vcpus)
{
	jp_only_keys(jp, w, path, keys);
	return malloc(1);
}

static int locks(const struct workload_params *p) { return 0; }
static int finite(const struct workload_params *p) { return 0; }
static void *start(const struct workload_params *p, int threads) { return malloc(1); }

static void next_op(void *state, const struct workload_params *p, int t, gsl_rng *rng,
		    struct op *out)
{
	out->kind = OP_COMPUTE;
	out->ns = 1000000 * NS_PER_SEC;
	out->request = 0;
}

const struct workload_kind workload_cpu_bound = {
	.name = "cpu_bound",
	.summary = "endless computation in every vCPU (throughput = work_ms per second)",
	.parse = parse,
	.free_params = (void (*)(struct workload_params *))free,
	.locks = locks,
	.finite = finite,
	.start = start,
	.stop = free,
	.next_op = next_op,
};
