/* bsp.h: the parameters of a bsp workload (workloads/bsp.c), for code that runs
 * the same program elsewhere: the KVM runner (kvm/cmd_kvm.c). */
#ifndef VCPUSIM_BSP_H
#define VCPUSIM_BSP_H
#include <stdint.h>
#include "sim/simtime.h"

struct workload_params;

struct bsp_desc {
	int64_t iterations;
	simtime_t grain_ns;
	double imbalance;
	int locks_per_phase, nlocks;
	int tlb_per_phase;
	simtime_t cs_ns;
	int barrier;
};

void bsp_describe(const struct workload_params *p, struct bsp_desc *d);

#endif
