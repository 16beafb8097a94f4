/* test_tlb.c: guest kernel TLB shootdowns (models/guest.c, docs/model.md "Guest
 * kernel IPIs"): the initiator spins until every target vCPU acknowledges, so a
 * preempted target stalls it. Its waits grow with overcommit under Credit, are cut
 * by coscheduling (gang) and by KVM's paravirtual TLB flush (a preempted target is
 * not waited for); they are kernel waits that the paper's monitor sees (asman
 * engages on a VM without any spinlock); the bookkeeping invariants hold (--check). */
#include "testlib.h"

struct res {
	double completion_ms;   /* stop.max_ms if unfinished */
	uint64_t waits, long_waits, ipis, deferred, spin_acq, resched;
	double wait_ms, cosched_ms;
};

static struct res run(const char *policy, int hogs, int pv)
{
	char json[4096], hs[1024] = "";
	for (int i = 0; i < hogs; i++) {
		size_t n = strlen(hs);
		snprintf(hs + n, sizeof hs - n,
			 ",{\"name\":\"hog%d\",\"vcpus\":4,\"workload\":{\"kind\":\"cpu_bound\"}}", i);
	}
	snprintf(json, sizeof json,
		 "{\"name\":\"tlb\",\"seed\":1,\"stop\":{\"max_ms\":6000},\"host\":{\"pcpus\":4,\"ghz\":2.4},"
		 "\"scheduler\":{\"policy\":\"%s\"},\"guest\":{\"pv_tlb_flush\":%s},"
		 "\"vms\":[{\"name\":\"par\",\"vcpus\":4,\"workload\":{\"kind\":\"bsp\",\"iterations\":300,"
		 "\"grain_us\":1000,\"imbalance\":0.1,\"tlb_shootdowns_per_phase\":4}}%s]}",
		 policy, pv ? "true" : "false", hs);
	struct scenario *sc = t_scenario(json);
	struct sim *s = t_run(sc);
	struct vm *vm = t_vm(s, "par");
	const struct kwait *k = &vm->st.kwait[KW_TLB];
	struct res r = { vm->done_time >= 0 ? simtime_ms(vm->done_time) : 6000.0, k->n, k->long_n,
			 vm->st.tlb_ipis, vm->st.tlb_deferred, vm->st.acquisitions,
			 vm->st.kwait[KW_RESCHED].n, simtime_ms(k->total), simtime_ms(vm->st.cosched_ns) };
	printf("%-6s %d hog(s)%s: %7.1f ms, %5llu shootdowns, %4llu long, %8.1f ms waiting, "
	       "%5llu IPIs, %4llu deferred, %4llu resched waits, cosched %.1f ms\n", policy, hogs,
	       pv ? " pv-flush" : "", r.completion_ms, (unsigned long long)r.waits,
	       (unsigned long long)r.long_waits, r.wait_ms, (unsigned long long)r.ipis,
	       (unsigned long long)r.deferred, (unsigned long long)r.resched, r.cosched_ms);
	t_done(s, sc);
	return r;
}

int main(void)
{
	const uint64_t all = 300 * 4 * 4;   /* iterations x shootdowns x threads */
	struct res c0 = run("credit", 0, 0), c1 = run("credit", 1, 0), c2 = run("credit", 2, 0);
	struct res g1 = run("gang", 1, 0), p1 = run("credit", 1, 1), p2 = run("credit", 2, 1);
	struct res a1 = run("asman", 1, 0);
	/* alone: every shootdown done, each target acknowledges after about an IPI's
	 * latency (no spinlocks in this program: the waits are the shootdowns') */
	EXPECT(c0.waits == all && c0.spin_acq > 0, "alone: %llu shootdowns",
	       (unsigned long long)c0.waits);
	EXPECT(c0.ipis <= 3 * all && c0.ipis > 2 * all, "alone: up to 3 IPIs each, %llu",
	       (unsigned long long)c0.ipis);
	EXPECT(c0.deferred == 0 && c1.deferred == 0, "no PV flush, nothing deferred");
	double m0 = c0.wait_ms / (double)c0.waits, m1 = c1.wait_ms / (double)c1.waits;
	double m2 = c2.wait_ms / (double)c2.waits;
	/* overcommit under Credit: the initiator's waits grow (mean and long ones) */
	EXPECT(m1 > 20 * m0 && m2 > m1, "mean wait %.3f < %.3f < %.3f ms", m0, m1, m2);
	EXPECT(c1.long_waits > 5 * c0.long_waits && c1.long_waits > 300,
	       "long waits 1x %llu, 2x %llu", (unsigned long long)c0.long_waits,
	       (unsigned long long)c1.long_waits);
	EXPECT(c1.completion_ms > 3 * c0.completion_ms, "2x is much slower than alone");
	/* coscheduling cuts them: the targets run with the initiator */
	EXPECT(g1.waits == all && g1.long_waits * 5 < c1.long_waits,
	       "gang: %llu long waits, credit %llu", (unsigned long long)g1.long_waits,
	       (unsigned long long)c1.long_waits);
	EXPECT(g1.wait_ms * 10 < c1.wait_ms, "gang waits %.1f ms, credit %.1f ms", g1.wait_ms,
	       c1.wait_ms);
	EXPECT(g1.completion_ms < c1.completion_ms, "gang finishes sooner");
	/* PV TLB flush cuts them: preempted targets are deferred, not waited for */
	EXPECT(p1.deferred > 0 && p2.deferred > p1.deferred, "deferred %llu, %llu",
	       (unsigned long long)p1.deferred, (unsigned long long)p2.deferred);
	EXPECT(p1.waits == all && p1.long_waits * 5 < c1.long_waits,
	       "pv flush: %llu long waits, without %llu", (unsigned long long)p1.long_waits,
	       (unsigned long long)c1.long_waits);
	EXPECT(p1.completion_ms < c1.completion_ms && p2.completion_ms < c2.completion_ms,
	       "pv flush finishes sooner");
	EXPECT(p1.ipis + p1.deferred <= 3 * all, "each target is sent an IPI or deferred");
	/* the paper's monitor sees the shootdowns: asman coschedules a VM that has
	 * long kernel waits from TLB shootdowns (and none of its spinlock waits is long) */
	EXPECT(a1.cosched_ms > 0, "asman engages on TLB shootdown waits: %.1f ms", a1.cosched_ms);
	EXPECT(a1.long_waits < c1.long_waits, "asman cuts the long waits: %llu < %llu",
	       (unsigned long long)a1.long_waits, (unsigned long long)c1.long_waits);
	return t_finish("test_tlb");
}
