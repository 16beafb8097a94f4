/* abi.h: the memory layout and the shared structures of a vcpusim KVM guest,
 * included by both sides: the monitor (kvm/monitor.c, a normal host program) and
 * the guest (kvm/guest/guest.c, freestanding code run in ring 3 of a VM with no
 * operating system). Only fixed-width integers, no pointers: the guest sees this
 * at GUEST_SHARED_GPA, the monitor through its mapping of guest memory.
 *
 * Guest-physical layout (identity-mapped by the monitor's page tables, 2 MB pages,
 * all user-accessible; the guest never runs ring-0 code):
 *   0x001000 PML4, 0x002000 PDPT, 0x003000 PD, 0x004000 GDT, 0x005000 TSS
 *   0x100000 guest code and data (the flat binary kvm/guest/guest.bin)
 *   0x200000 struct kguest_shared (parameters in, measurements out)
 *   0x400000 stacks, KGUEST_STACK_SIZE per vCPU
 *   0x600000 per-vCPU gap logs (when the vCPU was not running), KGUEST_GAPLOG_SIZE each
 *   0xE00000 the doorbell: mapped by the page tables but backed by no memory slot,
 *            so a guest write there exits to the monitor (KVM_EXIT_MMIO). */
#ifndef VCPUSIM_KVM_GUEST_ABI_H
#define VCPUSIM_KVM_GUEST_ABI_H
#include <stdint.h>

#define KGUEST_PML4_GPA     0x1000u
#define KGUEST_PDPT_GPA     0x2000u
#define KGUEST_PD_GPA       0x3000u
#define KGUEST_GDT_GPA      0x4000u
#define KGUEST_TSS_GPA      0x5000u
#define KGUEST_CODE_GPA     0x100000u
#define KGUEST_CODE_MAX     0x100000u
#define KGUEST_SHARED_GPA   0x200000u
#define KGUEST_STACK_GPA    0x400000u
#define KGUEST_STACK_SIZE   0x10000u
#define KGUEST_GAPLOG_GPA   0x600000u
#define KGUEST_GAPLOG_SIZE  0x10000u
#define KGUEST_GAPLOG_N     (KGUEST_GAPLOG_SIZE / sizeof(struct kguest_gap))
#define KGUEST_MEM_SIZE     0x800000u   /* the one memory slot: [0, 8 MB) */
#define KGUEST_MAPPED_SIZE  0x1000000u  /* the page tables map [0, 16 MB) */
#define KGUEST_DOORBELL_GPA 0xE00000u

#define KGUEST_MAX_VCPUS 32
#define KGUEST_MAX_LOCKS 64
#define KGUEST_HIST 64

/* Values the guest writes to the doorbell: 4 bytes, or 8 for KDB_SLEEP whose upper
 * half is the barrier generation the guest saw (the monitor's futex value). */
enum kguest_doorbell {
	KDB_READY = 1, KDB_DONE = 2, KDB_FAIL = 3,
	KDB_SLEEP = 4,   /* halt this vCPU until the barrier generation changes */
	KDB_WAKE = 5,    /* wake the vCPUs halted at the barrier (an IPI's job) */
};

enum kguest_kind { KG_BSP = 1, KG_CPU_BOUND = 2 };
enum kguest_lock { KG_TICKET = 0, KG_TAS = 1 };

/* One interval in which a vCPU did not run (TSC): a gap in its TSC reads, or a
 * halt at a barrier. The first KGUEST_GAPLOG_N are kept (kguest_vcpu.ngaps counts
 * all), for `vcpusim kvm --trace`. */
struct kguest_gap {
	uint64_t from, to;
};

/* Written by the monitor before the first KVM_RUN; read-only for the guest. All
 * times are in guest TSC cycles (the monitor converts with KVM_GET_TSC_KHZ). */
struct kguest_params {
	uint32_t kind, nvcpus, lock_kind, nlocks;
	uint64_t iterations;
	uint64_t grain_cycles;       /* bsp: compute per thread per phase */
	uint32_t imbalance_q16;      /* bsp: imbalance x 65536 */
	uint32_t locks_per_phase;
	uint64_t cs_cycles;          /* critical section */
	uint32_t barrier;            /* bsp: barrier at the end of each phase */
	uint32_t pad0;
	uint64_t barrier_spin_cycles; /* spin this much running time, then halt (libgomp) */
	uint64_t long_wait_cycles;   /* waits (and holds) >= this are long (scenario cycles) */
	uint64_t gap_cycles;         /* two TSC reads further apart: the vCPU was not running */
	uint64_t chunk_cycles;       /* cpu_bound: publish progress after this much work */
	uint64_t seed;
	/* Waits and holds are recorded in the scenario's cycles (ns x host.ghz, as in
	 * the simulator), not TSC cycles: cycles = tsc_cycles x scale_q32 / 2^32. */
	uint64_t scale_q32;
};

/* Per-vCPU measurements, written only by that vCPU (one cache line pair each). */
struct kguest_vcpu {
	uint64_t work_cycles;        /* compute and critical sections, running time only */
	uint64_t lock_spin_cycles;   /* spinning for locks, running time only */
	uint64_t barrier_spin_cycles;
	uint64_t stolen_cycles;      /* TSC gaps: time the vCPU was not running */
	uint64_t gaps;               /* how many such gaps (preemptions, roughly) */
	uint64_t acquisitions, long_waits, max_wait_cycles;  /* scenario cycles */
	uint64_t hold_cycles, long_holds, max_hold_cycles;  /* scenario cycles */
	uint64_t late_handoffs;      /* lock granted to this waiter while it was not running */
	uint64_t barriers, barrier_sleeps, barrier_wakes;
	uint64_t start_tsc, end_tsc;
	uint64_t progress;           /* incremented as work is published (cpu_bound) */
	uint64_t ngaps;              /* intervals not running, logged or not */
	uint64_t ready_tsc;          /* just before the READY doorbell */
	uint64_t last_tsc;           /* the guest's clock at its last bookkeeping point */
	uint64_t wait_hist[KGUEST_HIST];   /* log2 cycles of each acquisition's wait */
	uint64_t hold_hist[KGUEST_HIST];   /* log2 cycles of each critical section, wall */
} __attribute__((aligned(128)));

struct kguest_lock_word {
	uint32_t next, owner;        /* ticket: next ticket to give, ticket that owns */
	uint32_t flag, pad;          /* tas */
	uint64_t release_tsc;        /* when the lock was last released */
} __attribute__((aligned(128)));

struct kguest_barrier {
	uint32_t count, gen, sleepers;
} __attribute__((aligned(128)));

struct kguest_shared {
	struct kguest_params p;
	uint64_t magic;              /* the guest writes KGUEST_MAGIC when it starts */
	struct kguest_barrier bar __attribute__((aligned(128)));
	struct kguest_lock_word locks[KGUEST_MAX_LOCKS];
	struct kguest_vcpu v[KGUEST_MAX_VCPUS];
};

#define KGUEST_MAGIC 0x7663707573696d31ull  /* "vcpusim1" */

#endif
