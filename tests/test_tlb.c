/* test_tlb.c: guest kernel TLB shootdowns (models/guest.c, docs/model.md "Guest
 * kernel IPIs"): the initiator spins until every target vCPU acknowledges, so a
 * preempted target stalls it. Its waits grow with overcommit under Credit, are cut
 * by coscheduling (gang) and by KVM's paravirtual TLB flush (a preempted target is
 * not waited for); they are kernel waits that the paper's monitor sees (asman
 * engages on a VM without any spinlock); the bookkeeping invariants hold (--check).
 * A target's flush handler (guest.tlb_flush_ns, the host profile's tlb_flush_ns)
 * delays its acknowledgement and takes its CPU. A flush IPI reaches a target that
 * executes at the send after guest.tlb_ipi_ns (the host profile's tlb_ipi_ns, the
 * measured delivery to a running CPU), not the wake-up latency guest.ipi_ns; a
 * profile written before tlb_ipi_ns existed falls back to guest.ipi_ns. The paper-era wake-up path
 * (guest.ttwu_rq_lock: try_to_wake_up under the wakee's rq lock, schedule() under
 * the sleeper's own) takes the rq locks once per sleep and once per wake-up, its
 * waits are kernel spinlock waits the monitor sees, and on a barrier-heavy program
 * they stay rare even at 2x (the rq lock is held a microsecond per sleep). */
#include "testlib.h"
#include <unistd.h>
#include "models/host.h"

struct res {
	double completion_ms;   /* stop.max_ms if unfinished */
	uint64_t waits, long_waits, ipis, deferred, spin_acq, resched;
	double wait_ms, cosched_ms;
};

/* ",{hog0}, ..." : n cpu_bound VMs of `vcpus` vCPUs, for a scenario's vms list */
static void hogs_json(char *hs, size_t len, int n, int vcpus)
{
	hs[0] = 0;
	for (int i = 0; i < n; i++) {
		size_t k = strlen(hs);
		snprintf(hs + k, len - k,
			 ",{\"name\":\"hog%d\",\"vcpus\":%d,\"workload\":{\"kind\":\"cpu_bound\"}}",
			 i, vcpus);
	}
}

static struct res run(const char *policy, int hogs, int pv)
{
	char json[4096], hs[1024];
	hogs_json(hs, sizeof hs, hogs, 4);
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

/* The 4-vCPU shootdown program alone on 4 pCPUs, no host activity, with a target
 * flush handler of flush_ns. */
static struct vm *alone(int flush_ns, struct sim **sp, struct scenario **scp)
{
	char json[2048];
	snprintf(json, sizeof json,
		 "{\"name\":\"f\",\"seed\":1,\"stop\":{\"max_ms\":6000},"
		 "\"host\":{\"pcpus\":4,\"ghz\":2.4,\"activity\":\"off\"},"
		 "\"guest\":{\"tlb_flush_ns\":%d},"
		 "\"vms\":[{\"name\":\"par\",\"vcpus\":4,\"workload\":{\"kind\":\"bsp\","
		 "\"iterations\":300,\"grain_us\":1000,\"imbalance\":0.1,"
		 "\"tlb_shootdowns_per_phase\":4}}]}", flush_ns);
	*scp = t_scenario(json);
	*sp = t_run(*scp);
	return t_vm(*sp, "par");
}

static void flush_cost(void)
{
	struct sim *s0, *s1;
	struct scenario *c0, *c1;
	struct vm *v0 = alone(0, &s0, &c0), *v1 = alone(20000, &s1, &c1);
	const struct kwait *k0 = &v0->st.kwait[KW_TLB], *k1 = &v1->st.kwait[KW_TLB];
	double m0 = simtime_us(k0->total) / (double)k0->n, m1 = simtime_us(k1->total) / (double)k1->n;
	printf("alone, flush 0: %.1f ms, mean shootdown wait %.2f us, IPIs %llu; flush 20 us: "
	       "%.1f ms, mean wait %.2f us, IPIs %llu, handlers %.1f ms\n",
	       simtime_ms(v0->done_time), m0, (unsigned long long)v0->st.tlb_ipis,
	       simtime_ms(v1->done_time), m1, (unsigned long long)v1->st.tlb_ipis,
	       simtime_ms(v1->st.tlb_flush_cpu_ns));
	/* the initiator waits for the slowest target's handler: about 20 us more */
	EXPECT(m1 - m0 > 18 && m1 - m0 < 30, "flush cost adds %.2f us to a shootdown", m1 - m0);
	EXPECT(v0->st.tlb_flush_cpu_ns == 0, "no handler time without a cost");
	/* every handler takes exactly the cost; requests arriving during a handler
	 * are acknowledged by it, so there are at most as many handlers as IPIs */
	EXPECT(v1->st.tlb_flush_cpu_ns % 20000 == 0 && v1->st.tlb_flush_cpu_ns > 0 &&
	       v1->st.tlb_flush_cpu_ns <= (simtime_t)v1->st.tlb_ipis * 20000,
	       "handlers %lld ns for %llu IPIs", (long long)v1->st.tlb_flush_cpu_ns,
	       (unsigned long long)v1->st.tlb_ipis);
	/* the targets' work is pushed back: the program takes longer */
	EXPECT(v1->done_time > v0->done_time, "flush cost slows the program");
	t_done(s0, c0);
	t_done(s1, c1);
}

/* Two threads on 2 vCPUs on 2 pCPUs, no host activity, no imbalance: both end
 * every phase with 3 shootdowns at the same instants, each the other's target,
 * executing (spinning for its own) when the IPI is sent. So every wait is exactly
 * the delivery plus the handler: guest.tlb_ipi_ns + guest.tlb_flush_ns. `host` is
 * extra keys of "host", `guest` the "guest" object's keys. */
static void delivery_run(const char *host, const char *guest, simtime_t want_ipi,
			 simtime_t want_flush)
{
	char json[2048];
	snprintf(json, sizeof json,
		 "{\"name\":\"d\",\"seed\":1,\"stop\":{\"max_ms\":2000},"
		 "\"host\":{\"pcpus\":2,\"ghz\":2.4,\"activity\":\"off\"%s},\"guest\":{%s},"
		 "\"vms\":[{\"name\":\"par\",\"vcpus\":2,\"workload\":{\"kind\":\"bsp\","
		 "\"iterations\":100,\"grain_us\":500,\"imbalance\":0,"
		 "\"tlb_shootdowns_per_phase\":3}}]}", host, guest);
	struct scenario *sc = t_scenario(json);
	struct sim *s = t_run(sc);
	struct vm *vm = t_vm(s, "par");
	const struct kwait *k = &vm->st.kwait[KW_TLB];
	simtime_t each = want_ipi + want_flush;
	printf("delivery {%s}: tlb_ipi_ns %lld, ipi_ns %lld, flush %lld: %llu shootdowns, "
	       "mean wait %.3f us, max %.3f us\n", guest, (long long)s->guest.tlb_ipi_ns,
	       (long long)s->guest.ipi_ns, (long long)s->guest.tlb_flush_ns,
	       (unsigned long long)k->n, k->n ? simtime_us(k->total) / (double)k->n : 0,
	       simtime_us(k->max));
	EXPECT(s->guest.tlb_ipi_ns == want_ipi && s->guest.tlb_flush_ns == want_flush,
	       "{%s}: tlb_ipi_ns %lld (want %lld), tlb_flush_ns %lld (want %lld)", guest,
	       (long long)s->guest.tlb_ipi_ns, (long long)want_ipi,
	       (long long)s->guest.tlb_flush_ns, (long long)want_flush);
	/* one target each, so one IPI per shootdown; except the first phase's few
	 * when Credit placed both vCPUs on one pCPU and the other has not run yet (a
	 * thread not started is skipped: no IPI, a wait of 0) */
	EXPECT(vm->done_time >= 0 && k->n == 100 * 3 * 2 && vm->st.tlb_ipis <= k->n &&
	       vm->st.tlb_ipis + 3 >= k->n, "{%s}: %llu shootdowns, %llu IPIs", guest,
	       (unsigned long long)k->n, (unsigned long long)vm->st.tlb_ipis);
	EXPECT(k->total == (simtime_t)vm->st.tlb_ipis * each && k->max == each,
	       "{%s}: every wait with an IPI is %lld ns: total %lld for %llu IPIs, max %lld",
	       guest, (long long)each, (long long)k->total, (unsigned long long)vm->st.tlb_ipis,
	       (long long)k->max);
	t_done(s, sc);
}

/* The reference profile's value of a top-level number key. */
static double ref_key(const char *key)
{
	cJSON *r = cJSON_Parse(host_profile_reference_json);
	const cJSON *v = cJSON_GetObjectItem(r, key);
	double x = cJSON_IsNumber(v) ? v->valuedouble : -1;
	cJSON_Delete(r);
	return x;
}

static void ipi_delivery(void)
{
	simtime_t ref_ipi = (simtime_t)(ref_key("tlb_ipi_ns") + 0.5),
		  ref_wake = (simtime_t)(ref_key("ipi_ns") + 0.5),
		  ref_flush = (simtime_t)(ref_key("tlb_flush_ns") + 0.5);
	/* the reference host measured it: a running target gets the IPI well before a
	 * sleeping thread wakes (docs/host-profile.md) */
	EXPECT(ref_ipi > 0 && ref_ipi * 3 < ref_wake, "reference tlb_ipi_ns %lld, ipi_ns %lld",
	       (long long)ref_ipi, (long long)ref_wake);
	delivery_run("", "", ref_ipi, ref_flush);
	delivery_run("", "\"tlb_ipi_ns\":1500,\"tlb_flush_ns\":500", 1500, 500);
	/* setting the wake-up latency does not move the delivery to a running target */
	delivery_run("", "\"ipi_ns\":90000", ref_ipi, ref_flush);
	/* an old profile (no tlb_ipi_ns): the delivery is guest.ipi_ns, as before */
	cJSON *r = cJSON_Parse(host_profile_reference_json);
	cJSON_DeleteItemFromObject(r, "tlb_ipi_ns");
	cJSON_DeleteItemFromObject(r, "tlb_ipi_delivery_ns");
	char *text = cJSON_PrintUnformatted(r);
	cJSON_Delete(r);
	char path[] = "/tmp/vcpusim-test-profile-XXXXXX";
	int fd = mkstemp(path);
	if (fd < 0 || write(fd, text, strlen(text)) != (ssize_t)strlen(text)) {
		EXPECT(0, "temporary profile file");
	} else {
		char host[256];
		snprintf(host, sizeof host, ",\"profile\":\"%s\"", path);
		delivery_run(host, "", ref_wake, ref_flush);
		delivery_run(host, "\"ipi_ns\":9000", 9000, ref_flush);
		delivery_run(host, "\"ipi_ns\":9000,\"tlb_ipi_ns\":700", 700, ref_flush);
	}
	if (fd >= 0) {
		close(fd);
		unlink(path);
	}
	free(text);
}

struct rq {
	uint64_t waits, long_n, sleeps, ipis, resched, spin_long, vm_long;
	double spin_ms, wait_ms;
};

/* An 8-vCPU barrier program that sleeps at every barrier, beside `hogs` 8-vCPU
 * hogs on 8 pCPUs, with the rq-lock wake-up path. */
static struct rq rq_run(const char *policy, int hogs, int seed, int cs_ns)
{
	char json[4096], hs[1024];
	hogs_json(hs, sizeof hs, hogs, 8);
	snprintf(json, sizeof json,
		 "{\"name\":\"rq\",\"seed\":%d,\"stop\":{\"max_ms\":8000},\"host\":{\"pcpus\":8,\"ghz\":2.4},"
		 "\"scheduler\":{\"policy\":\"%s\"},\"guest\":{\"ttwu_rq_lock\":true,"
		 "\"barrier_spin_count\":0,\"rq_lock_cs_ns\":%d},"
		 "\"vms\":[{\"name\":\"par\",\"vcpus\":8,\"workload\":{\"kind\":\"bsp\",\"iterations\":1500,"
		 "\"grain_us\":300,\"imbalance\":0.3}}%s]}", seed, policy, cs_ns, hs);
	struct scenario *sc = t_scenario(json);
	struct sim *s = t_run(sc);
	struct vm *vm = t_vm(s, "par");
	const struct kwait *k = &vm->st.kwait[KW_RQLOCK];
	struct rq r = { k->n, k->long_n, vm->st.futex_sleeps, vm->st.ipis_sent,
			vm->st.kwait[KW_RESCHED].n, vm->st.kwait[KW_SPINLOCK].long_n, vm->st.long_waits,
			simtime_ms(vm->st.rq_spin_ns), simtime_ms(k->total) };
	printf("rq lock, %-6s %d hog(s), seed %d, cs %d ns: %s, %llu sleeps, %llu rq-lock waits "
	       "(%llu long, %.3f ms waiting, %.3f ms spinning), %llu resched IPIs\n", policy, hogs,
	       seed, cs_ns, vm->done_time >= 0 ? "finished" : "unfinished",
	       (unsigned long long)r.sleeps, (unsigned long long)r.waits,
	       (unsigned long long)r.long_n, r.wait_ms, r.spin_ms, (unsigned long long)r.ipis);
	t_done(s, sc);
	return r;
}

static void rq_lock_path(void)
{
	uint64_t long2 = 0;
	for (int seed = 1; seed <= 3; seed++) {
		struct rq a = rq_run("credit", 0, seed, 1000), b = rq_run("credit", 1, seed, 1000);
		/* each sleep takes the sleeper's rq lock, each wake-up the wakee's;
		 * every sleeper is woken by an IPI, unless the waker found it still on its
		 * way into schedule() (then it does not sleep: no IPI, no resched wait) */
		EXPECT(a.waits <= 2 * a.sleeps && a.waits >= a.sleeps + a.ipis && a.ipis > 0 &&
		       a.resched == a.ipis, "alone: %llu rq waits, %llu sleeps, %llu IPIs",
		       (unsigned long long)a.waits, (unsigned long long)a.sleeps,
		       (unsigned long long)a.ipis);
		EXPECT(b.waits >= b.sleeps + b.ipis && b.waits <= 2 * b.sleeps, "2x: rq waits %llu",
		       (unsigned long long)b.waits);
		/* long rq-lock waits are kernel spinlock waits: counted with them */
		EXPECT(b.vm_long == b.long_n + b.spin_long, "long waits %llu = %llu rq + %llu other",
		       (unsigned long long)b.vm_long, (unsigned long long)b.long_n,
		       (unsigned long long)b.spin_long);
		EXPECT(a.long_n == 0, "alone: no long rq-lock wait");
		long2 += b.long_n;
	}
	/* the paper-era path at its default hold (1 us): the rq lock's holder is almost
	 * never preempted inside, so long rq-lock waits stay rare at 2x too (the
	 * finding reported in docs/policies.md) */
	EXPECT(long2 <= 3, "2x: %llu long rq-lock waits in 3 runs", (unsigned long long)long2);
	/* a holder preempted inside: with a 5 ms hold the waits become long, and the
	 * monitor's hook counts them with the other kernel spinlock waits */
	struct rq c = rq_run("credit", 1, 1, 5000000);
	EXPECT(c.long_n > 0 && c.vm_long == c.long_n + c.spin_long,
	       "5 ms hold: %llu long rq-lock waits", (unsigned long long)c.long_n);
}

int main(void)
{
	ipi_delivery();
	flush_cost();
	rq_lock_path();
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
