/* monitor.h: a minimal KVM virtual machine monitor for vcpusim's ground-truth runs
 * (issue 9, docs/kvm-harness.md). It drives /dev/kvm directly: one VM
 * per scenario VM, one host thread per vCPU, pinned; no QEMU, no guest OS. The
 * monitor puts every vCPU straight into 64-bit ring 3 (it writes the page tables,
 * GDT and segment state itself), so no guest ring-0 code ever runs: under kvm_pvm
 * that code would be emulated an instruction at a time, ring 3 runs natively.
 * The guest program is kvm/guest/guest.c; their contract is kvm/guest/abi.h.
 *
 * Host CPU hogs are child processes that only burn CPU, pinned like vCPUs. */
#ifndef VCPUSIM_KVM_MONITOR_H
#define VCPUSIM_KVM_MONITOR_H
#include <stddef.h>
#include <stdint.h>
#include "kvm/guest/abi.h"

struct kvm_vm_spec {
	const char *name;
	int nvcpus;
	int finite;                       /* the run waits for this VM to finish */
	struct kguest_params params;      /* cycles fields are filled by kvm_run_all */
	double grain_ns, cs_ns;           /* bsp, converted to cycles with the TSC rate */
	double barrier_spin_ns;           /* then halt at a barrier; < 0: spin forever */
	const int *affinity;              /* nvcpus x ncpus flags, NULL = all run CPUs */
};

struct kvm_hog_spec {
	const char *name;
	const int *affinity;              /* ncpus flags, NULL = all run CPUs */
};

struct kvm_vcpu_result {
	double cpu_ms;                    /* host thread CPU time (user + system) */
	double done_ms;                   /* since the common start; < 0 if not done */
	uint64_t voluntary, involuntary, migrations;
	int exit_reason_bad;              /* KVM exit the monitor did not expect */
	uint64_t host_tsc_at_ready;       /* host TSC when the READY exit reached the monitor */
};

struct kvm_vm_result {
	int finished;
	double completion_ms;             /* host clock: last vCPU done - common start */
	struct kguest_vcpu v[KGUEST_MAX_VCPUS];  /* the guest's own measurements */
	struct kvm_vcpu_result r[KGUEST_MAX_VCPUS];
	struct kguest_gap *gaplog[KGUEST_MAX_VCPUS];   /* min(ngaps, KGUEST_GAPLOG_N) each */
};

struct kvm_hog_result {
	double cpu_ms;
};

struct kvm_run_spec {
	int ncpus;                        /* host CPUs 0..ncpus-1 are the run's pCPUs */
	int nvms, nhogs;
	struct kvm_vm_spec *vms;
	struct kvm_hog_spec *hogs;
	double max_ms;                    /* stop there even if not finished */
	double gap_ns;                    /* TSC step counted as not running */
	double ghz;                       /* scenario host.ghz: waits are in its cycles */
	int nice;                         /* nice value of every vCPU thread and hog (0: as is) */
};

struct kvm_run_result {
	double elapsed_ms;                /* common start to the end of the run */
	int stopped_at_max;
	double tsc_khz;
	uint64_t t0_tsc;                  /* host TSC at the common start */
	int nvms;
	struct kvm_vm_result *vms;
	struct kvm_hog_result *hogs;
};

/* Checks that /dev/kvm can create a VM and a vCPU. Returns 0, or -1 with a reason
 * (for users: what is missing and what to do) in why. */
int kvm_probe(char *why, size_t len);

/* Runs every VM and hog of spec at once; fills res (res->vms and res->hogs are
 * allocated, free with kvm_result_free). Returns 0, or -1 with a message in why. */
int kvm_run_all(const struct kvm_run_spec *spec, struct kvm_run_result *res, char *why,
		size_t len);
void kvm_result_free(struct kvm_run_result *res);

#endif
