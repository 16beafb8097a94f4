/* guest.h: the guest model: one thread per vCPU executing its workload's
 * operations, with guest kernel spinlocks and spin-then-block barriers
 * (docs/model.md, "Guest model"). Work advances only while the vCPU runs. */
#ifndef VCPUSIM_GUEST_H
#define VCPUSIM_GUEST_H
#include "sim/simtime.h"
#include "models/model.h"

enum lock_kind { LOCK_TICKET, LOCK_TAS, LOCK_PVTICKET, LOCK_PMT, LOCK_QSPIN, LOCK_PVQSPIN,
		 LOCK_KINDS };
extern const char *const lock_kind_names[];
/* A pvqspinlock waiter's role (guest_thread.pvq_role, models/guest.c): spinning
 * unfairly outside the MCS queue, a queue node, the queue head. */
enum pvq_role { PVQ_NONE, PVQ_UNFAIR, PVQ_NODE, PVQ_HEAD };

struct guest_config {
	enum lock_kind lock_kind;
	int64_t long_wait_cycles;   /* waits >= this are long waits (default 2^20) */
	int64_t pv_spin_cycles;     /* paravirt ticket: spin this long, then block */
	int64_t pmt_timeout_cycles; /* pmtlock: FIFO spin per queue position before competing */
	simtime_t barrier_spin_ns;  /* libgomp spins this long before the futex */
	simtime_t futex_cs_ns;      /* futex bucket critical section (check / queue) */
	simtime_t futex_wake_ns;    /* waker's CPU per woken sleeper */
	simtime_t ipi_ns;           /* IPI / event-channel latency to the target */
	simtime_t kick_ns;          /* paravirt kick hypercall, releaser's CPU */
	int monitor_user;           /* guest.monitor "all": long barrier and hand-off
	                               waits reach the policy's long_wait hook too */
	int pv_tlb_flush;           /* KVM PV TLB flush: a preempted target is not
	                               waited for, it flushes at its next entry */
	simtime_t tlb_flush_ns;     /* a target's flush IPI handler (flush_tlb_func) */
	simtime_t tlb_ipi_ns;       /* a flush IPI's delivery to an executing target */
	int ttwu_rq_lock;           /* wake-ups take the wakee's rq lock (2.6.3x ttwu) */
	simtime_t rq_lock_cs_ns;    /* schedule()'s hold of its own rq lock to sleep */
};

struct sim;
struct vcpu;

/* Sets up the VM's locks and barrier and the threads' first operations. */
void guest_init_vm(struct sim *s, struct vm *vm);
void guest_free_vm(struct vm *vm);
/* The hypervisor dispatched v (now RUNNING) / took it off its pCPU. */
void guest_dispatched(struct sim *s, struct vcpu *v);
void guest_descheduled(struct sim *s, struct vcpu *v);
/* Host activity that stalled v (on its pCPU, still RUNNING) is over: it goes on
 * (guest_descheduled stopped it when the activity began). */
void guest_resumed(struct sim *s, struct vcpu *v);
/* Charges the CPU time of the running segment up to now (for results at the end). */
void guest_account(struct sim *s, struct vcpu *v);
/* Adds CPU work the guest must do before continuing (e.g. a hypercall's cost). */
void guest_add_sys(struct sim *s, struct vcpu *v, simtime_t ns);
/* Lock-queue consistency (for --check); returns NULL or a description. */
const char *guest_check_vm(const struct vm *vm);

#endif
