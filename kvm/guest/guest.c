/* guest.c: the program a vcpusim KVM guest runs (kvm/monitor.c starts it), one
 * copy per vCPU, in ring 3 of a VM without an operating system. Freestanding: no
 * libc, no floating point, no system calls; it talks to the monitor only through
 * struct kguest_shared (kvm/guest/abi.h) and the doorbell page.
 *
 * It runs the same workloads as the simulator (workloads/bsp.c, cpu_bound.c):
 *  - bsp: `iterations` phases; each thread's phase is grain x (1 + imbalance x U)
 *    cycles of compute, cut in locks_per_phase + 1 equal chunks with a critical
 *    section of cs cycles on a random lock between chunks, then (if barrier) a
 *    spinning barrier of the VM's threads.
 *  - cpu_bound: compute forever, publishing progress.
 *
 * "Compute d cycles" means d cycles of running time, as in the simulator, where
 * work advances only while the vCPU runs. The guest cannot see the host's
 * scheduler, so it reads the TSC in a tight loop and counts only the steps shorter
 * than gap_cycles: a longer step is time the vCPU thread was not running
 * (preempted by the host, or the host handling something long), recorded as
 * stolen. Lock waits, as in the simulator, are wall time on the TSC from request
 * to acquisition, including the waiter's own preemptions. */
#include "kvm/guest/abi.h"

/* Entry: the monitor sets rsp to this vCPU's stack and rdi to its index. */
__asm__(".section .text.entry, \"ax\"\n"
	".globl _start\n"
	"_start:\n"
	"  call guest_main\n"
	"1: jmp 1b\n"
	".previous\n");

#define SHARED ((struct kguest_shared *)(uintptr_t)KGUEST_SHARED_GPA)
#define DOORBELL ((volatile uint32_t *)(uintptr_t)KGUEST_DOORBELL_GPA)

static inline uint64_t rdtsc(void)
{
	uint32_t lo, hi;
	__asm__ __volatile__("lfence; rdtsc" : "=a"(lo), "=d"(hi) :: "memory");
	return ((uint64_t)hi << 32) | lo;
}

static inline void cpu_relax(void) { __asm__ __volatile__("pause" ::: "memory"); }

/* A doorbell exits to the monitor, which reads what the guest wrote before it: a
 * compiler barrier keeps those stores ahead of the (volatile) doorbell store. */
static void ring(uint32_t what)
{
	__asm__ __volatile__("" ::: "memory");
	*DOORBELL = what;
	__asm__ __volatile__("" ::: "memory");
}

static void ring64(uint64_t what)
{
	__asm__ __volatile__("" ::: "memory");
	*(volatile uint64_t *)(uintptr_t)KGUEST_DOORBELL_GPA = what;
	__asm__ __volatile__("" ::: "memory");
}

/* TSC cycles to the scenario's cycles (abi.h) */
static inline uint64_t scaled(const struct kguest_params *p, uint64_t tsc)
{
	return (uint64_t)(((unsigned __int128)tsc * p->scale_q32) >> 32);
}

static inline int ilog2(uint64_t x) { return x < 2 ? 0 : 63 - __builtin_clzll(x); }

/* splitmix64: one stream per thread, derived from the scenario's seed. */
static uint64_t next_rand(uint64_t *s)
{
	uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

struct clock {
	uint64_t last, gap;
	struct kguest_vcpu *me;
	struct kguest_gap *log;
};

static void log_gap(struct clock *c, uint64_t from, uint64_t to)
{
	uint64_t n = c->me->ngaps++;
	if (n < KGUEST_GAPLOG_N) {
		c->log[n].from = from;
		c->log[n].to = to;
	}
}

/* Advances the clock to now; returns the running cycles since the last tick
 * (0 if the step was a gap, which is then charged as stolen). */
static inline uint64_t tick(struct clock *c)
{
	uint64_t now = rdtsc(), d = now - c->last;
	uint64_t then = c->last;
	c->last = now;
	if (d < c->gap)
		return d;
	c->me->stolen_cycles += d;
	c->me->gaps++;
	log_gap(c, then, now);
	return 0;
}

/* Brings the clock to now at a point that is neither work nor spin (lock and
 * barrier bookkeeping): a preemption since the last reading is still a gap. */
static inline uint64_t sync(struct clock *c)
{
	(void)tick(c);
	c->me->last_tsc = c->last;
	return c->last;
}

/* Runs for `need` cycles of running time. */
static void burn(struct clock *c, uint64_t need)
{
	uint64_t got = 0;
	while (got < need)
		got += tick(c);
	c->me->work_cycles += got;
}

static void lock_acquire(struct clock *c, const struct kguest_params *p,
			 struct kguest_lock_word *l, uint64_t *acq_tsc)
{
	struct kguest_vcpu *me = c->me;
	uint64_t t0 = sync(c), spin = 0;
	int waited = 0;
	if (p->lock_kind == KG_TICKET) {
		uint32_t my = __atomic_fetch_add(&l->next, 1, __ATOMIC_ACQUIRE);
		while (__atomic_load_n(&l->owner, __ATOMIC_ACQUIRE) != my) {
			waited = 1;
			cpu_relax();
			spin += tick(c);
		}
	} else {
		while (__atomic_exchange_n(&l->flag, 1, __ATOMIC_ACQUIRE)) {
			waited = 1;
			while (__atomic_load_n(&l->flag, __ATOMIC_RELAXED)) {
				cpu_relax();
				spin += tick(c);
			}
		}
	}
	uint64_t t1 = sync(c), wait = scaled(p, t1 - t0);
	me->lock_spin_cycles += spin;
	me->acquisitions++;
	me->wait_hist[ilog2(wait)]++;
	if (wait > me->max_wait_cycles)
		me->max_wait_cycles = wait;
	if (wait >= p->long_wait_cycles)
		me->long_waits++;
	/* granted while this waiter was not running: it held up everyone behind it */
	if (waited && t1 - __atomic_load_n(&l->release_tsc, __ATOMIC_RELAXED) >= p->gap_cycles)
		me->late_handoffs++;
	*acq_tsc = t1;
}

static void lock_release(struct clock *c, const struct kguest_params *p,
			 struct kguest_lock_word *l, uint64_t acq_tsc)
{
	struct kguest_vcpu *me = c->me;
	uint64_t now = sync(c), hold = scaled(p, now - acq_tsc);
	me->hold_cycles += hold;
	me->hold_hist[ilog2(hold)]++;
	if (hold > me->max_hold_cycles)
		me->max_hold_cycles = hold;
	if (hold >= p->long_wait_cycles)
		me->long_holds++;
	__atomic_store_n(&l->release_tsc, now, __ATOMIC_RELAXED);
	if (p->lock_kind == KG_TICKET)
		__atomic_store_n(&l->owner, l->owner + 1, __ATOMIC_RELEASE);
	else
		__atomic_store_n(&l->flag, 0, __ATOMIC_RELEASE);
}

/* Barrier of all the VM's threads, as libgomp's: spin for barrier_spin_cycles of
 * running time, then halt the vCPU (the SLEEP doorbell: the monitor's vCPU thread
 * sleeps on a futex on the generation word, so the host runs something else);
 * the last arriver bumps the generation and, if anyone sleeps, rings WAKE (the
 * monitor's futex wake stands for the guest kernel's IPI). Sleepers and the
 * waker order their accesses with seq_cst so that either the sleeper sees the new
 * generation or the waker sees the sleeper. */
static void barrier(struct clock *c, const struct kguest_params *p)
{
	struct kguest_barrier *b = &SHARED->bar;
	uint32_t gen = __atomic_load_n(&b->gen, __ATOMIC_ACQUIRE);
	uint64_t spin = 0;
	c->me->barriers++;
	if (__atomic_add_fetch(&b->count, 1, __ATOMIC_ACQ_REL) == p->nvcpus) {
		__atomic_store_n(&b->count, 0, __ATOMIC_RELAXED);
		__atomic_store_n(&b->gen, gen + 1, __ATOMIC_SEQ_CST);
		if (__atomic_load_n(&b->sleepers, __ATOMIC_SEQ_CST)) {
			c->me->barrier_wakes++;
			ring(KDB_WAKE);
		}
		sync(c);
		return;
	}
	sync(c);
	while (__atomic_load_n(&b->gen, __ATOMIC_ACQUIRE) == gen) {
		cpu_relax();
		spin += tick(c);
		if (spin >= p->barrier_spin_cycles) {
			__atomic_add_fetch(&b->sleepers, 1, __ATOMIC_SEQ_CST);
			if (__atomic_load_n(&b->gen, __ATOMIC_SEQ_CST) == gen) {
				c->me->barrier_sleeps++;
				uint64_t t = rdtsc();
				ring64(KDB_SLEEP | (uint64_t)gen << 32);
				log_gap(c, t, rdtsc());
			}
			__atomic_sub_fetch(&b->sleepers, 1, __ATOMIC_SEQ_CST);
			c->last = rdtsc();   /* asleep: neither work nor spin nor stolen */
		}
	}
	sync(c);   /* a preemption just before the generation moved is still a gap */
	c->me->barrier_spin_cycles += spin;
}

static void run_bsp(struct clock *c, const struct kguest_params *p, uint64_t *rng)
{
	uint64_t k = p->locks_per_phase;
	for (uint64_t it = 0; it < p->iterations; it++) {
		/* u uniform in [-1, 1) as a signed 33-bit fraction of 2^32 */
		int64_t u = (int64_t)(next_rand(rng) >> 31) - ((int64_t)1 << 32);
		__int128 dev = (__int128)(int64_t)((p->grain_cycles * p->imbalance_q16) >> 16) * u;
		uint64_t phase = (uint64_t)((int64_t)p->grain_cycles + (int64_t)(dev >> 32));
		uint64_t chunk = phase / (k + 1);
		sync(c);
		for (uint64_t j = 0; j < k; j++) {
			burn(c, chunk);
			uint32_t which = p->nlocks > 1
				? (uint32_t)(((next_rand(rng) >> 32) * p->nlocks) >> 32) : 0;
			struct kguest_lock_word *l = &SHARED->locks[which];
			uint64_t acq;
			lock_acquire(c, p, l, &acq);
			burn(c, p->cs_cycles);
			lock_release(c, p, l, acq);
		}
		burn(c, chunk);
		if (p->barrier)
			barrier(c, p);
	}
}

static void run_cpu_bound(struct clock *c, const struct kguest_params *p)
{
	sync(c);
	for (;;) {
		burn(c, p->chunk_cycles);
		c->me->last_tsc = c->last;
		__atomic_store_n(&c->me->progress, c->me->progress + 1, __ATOMIC_RELEASE);
	}
}

void guest_main(uint64_t idx);

void guest_main(uint64_t idx)
{
	struct kguest_shared *sh = SHARED;
	const struct kguest_params *p = &sh->p;
	if (idx >= p->nvcpus || idx >= KGUEST_MAX_VCPUS) {
		ring(KDB_FAIL);
		return;
	}
	struct kguest_vcpu *me = &sh->v[idx];
	/* touch what this vCPU will use, so first-touch faults happen before the start */
	volatile uint8_t stack_touch[8192];
	for (unsigned i = 0; i < sizeof stack_touch; i += 64)
		stack_touch[i] = 0;
	volatile uint8_t *log = (volatile uint8_t *)(uintptr_t)(KGUEST_GAPLOG_GPA + idx * KGUEST_GAPLOG_SIZE);
	for (unsigned i = 0; i < KGUEST_GAPLOG_SIZE; i += 4096)
		log[i] = 0;
	me->work_cycles = 0;
	sh->magic = KGUEST_MAGIC;
	me->ready_tsc = rdtsc();
	ring(KDB_READY);    /* the monitor holds every vCPU here until all are ready */

	struct clock c = {
		.gap = p->gap_cycles, .me = me,
		.log = (struct kguest_gap *)(uintptr_t)(KGUEST_GAPLOG_GPA + idx * KGUEST_GAPLOG_SIZE),
	};
	uint64_t rng = p->seed ^ (0x632be59bd9b4e019ull * (idx + 1));
	me->start_tsc = c.last = rdtsc();
	if (p->kind == KG_BSP)
		run_bsp(&c, p, &rng);
	else if (p->kind == KG_CPU_BOUND)
		run_cpu_bound(&c, p);
	me->end_tsc = sync(&c);
	ring(KDB_DONE);
	for (;;)
		ring(KDB_DONE);
}
