/* test_qspinlock.c: the queued spinlocks of modern Linux guests (models/guest.c,
 * docs/model.md "Guest model"): qspinlock hands over in FIFO order like ticket and
 * convoys like it under overcommit; pvqspinlock (Linux 6.1 qspinlock_paravirt.h)
 * halts waiters and kicks them, lets requesters steal a lock the head is not
 * spinning on, halts a queue node early when the node before it is preempted
 * (pv_wait_early, vcpu_is_preempted), and so has far fewer long waits and finishes
 * sooner; tas lies in between. Invariants (--check, guest_check_vm) hold all along. */
#include "testlib.h"

#define MAXV 64

/* The lock-heavy 4-vCPU VM beside a 4-vCPU hog on 4 pCPUs under Credit (2x), as in
 * scenarios/examples/lock-convoy.json, with the default (measured) host activity. */
static const char *convoy =
	"{\"name\":\"q-%s\",\"seed\":%d,\"stop\":{\"max_ms\":10000},\"host\":{\"pcpus\":4,\"ghz\":2.4%s},"
	"\"scheduler\":{\"policy\":\"credit\"},\"guest\":{\"spinlock\":\"%s\"%s},"
	"\"vms\":[{\"name\":\"par\",\"vcpus\":4,\"workload\":{\"kind\":\"bsp\",\"iterations\":2000,"
	"\"grain_us\":500,\"imbalance\":0.1,\"barrier\":false,\"locks_per_phase\":10,\"cs_ns\":2000}}"
	"%s]}";
static const char *hog = ",{\"name\":\"hog\",\"vcpus\":4,\"workload\":{\"kind\":\"cpu_bound\"}}";

struct res {
	double completion_ms;   /* 10000 (the stop) if unfinished */
	uint64_t long_waits, acquisitions, halts, kicks;
	uint64_t out_of_order;
};

struct order {
	uint64_t seq[MAXV], next_req, last_acq_seq, out_of_order;
	int have_last;
};

static void observe(struct sim *s, enum observe_what what, struct vcpu *v, const void *obj)
{
	struct order *o = s->observer_data;
	const struct glock *l = obj;
	if (l->id != 0)
		return;
	if (what == OBS_LOCK_REQUEST) {
		o->seq[v->id] = o->next_req++;
	} else if (what == OBS_LOCK_ACQUIRE) {
		if (o->have_last && o->seq[v->id] < o->last_acq_seq)
			o->out_of_order++;
		o->last_acq_seq = o->seq[v->id];
		o->have_last = 1;
	}
}

static struct res run(const char *kind, int seed, const char *extra, int with_hog)
{
	char json[2048];
	/* alone: on the clockwork host (no host activity either) */
	snprintf(json, sizeof json, convoy, kind, seed, with_hog ? "" : ",\"activity\":\"off\"",
		 kind, extra, with_hog ? hog : "");
	struct scenario *sc = t_scenario(json);
	struct sim *s = sim_create(sc);
	struct order o = { 0 };
	s->observe = observe;
	s->observer_data = &o;
	EXPECT(sim_run(s) == 0, "invariants held (%s)", kind);
	struct vm *vm = t_vm(s, "par");
	struct res r = { vm->done_time >= 0 ? simtime_ms(vm->done_time) : 10000.0,
			 vm->st.long_waits, vm->st.acquisitions, vm->st.pv_halts, vm->st.pv_kicks,
			 o.out_of_order };
	printf("%-11s seed %d%s: %8.1f ms, %6llu acquisitions, %4llu long waits, %4llu halts, "
	       "%4llu kicks, %5llu out of request order\n", kind, seed, with_hog ? "" : " alone",
	       r.completion_ms, (unsigned long long)r.acquisitions, (unsigned long long)r.long_waits,
	       (unsigned long long)r.halts, (unsigned long long)r.kicks,
	       (unsigned long long)r.out_of_order);
	t_done(s, sc);
	return r;
}

/* guest_check_vm catches a broken pvqspinlock queue (what --check relies on). */
static void checker_catches(void)
{
	struct vcpu w[3];
	struct glock l;
	struct vm vm;
	memset(w, 0, sizeof w);
	memset(&l, 0, sizeof l);
	memset(&vm, 0, sizeof vm);
	unsigned char req[9] = { 0 };
	l.kind = LOCK_PVQSPIN;
	vm.nlocks = 1;
	vm.locks = &l;
	vm.nvcpus = 3;
	vm.vcpus = w;
	vm.tlb_req = req;
	l.holder = &w[2];
	w[2].g.lock = &l;
	w[2].g.st = G_CRITICAL;
	/* two queued waiters: w0 head (spinning, pending set), w1 node */
	l.waiters = &w[0];
	l.waiters_tail = &w[1];
	l.nwaiters = 2;
	w[0].g.wait_next = &w[1];
	w[1].g.wait_prev = &w[0];
	for (int i = 0; i < 2; i++) {
		w[i].g.lock = &l;
		w[i].g.st = G_LOCK_SPIN;
		w[i].g.ticket = (uint64_t)i;
	}
	w[0].g.pvq_role = PVQ_HEAD;
	w[1].g.pvq_role = PVQ_NODE;
	l.pending = 1;
	EXPECT(guest_check_vm(&vm) == NULL, "a well-formed queue passes: %s", guest_check_vm(&vm));
	w[0].g.pvq_role = PVQ_NODE;
	EXPECT(guest_check_vm(&vm) != NULL, "a queue without a head is caught");
	w[0].g.pvq_role = PVQ_HEAD;
	w[0].g.st = G_LOCK_PARKED;
	w[0].state = VCPU_BLOCKED;   /* a halted waiter's vCPU is blocked */
	EXPECT(guest_check_vm(&vm) != NULL, "pending with a halted head is caught");
	l.pending = 0;
	EXPECT(guest_check_vm(&vm) == NULL, "a halted head without pending passes");
	w[1].g.pvq_role = PVQ_UNFAIR;
	EXPECT(guest_check_vm(&vm) == NULL, "an unfair spinner behind a halted head passes");
	l.pending = 1;
	w[0].g.st = G_LOCK_SPIN;
	w[0].state = VCPU_RUNNING;
	EXPECT(guest_check_vm(&vm) != NULL, "an unfair spinner while pending is set is caught");
	l.pending = 0;
	w[1].g.pvq_role = PVQ_NODE;
	w[1].g.ticket = 0;
	EXPECT(guest_check_vm(&vm) != NULL, "queue order is checked");
	w[1].g.ticket = 1;
	/* TLB shootdown bookkeeping: a request without a waiting initiator */
	req[1 * 3 + 2] = 1;
	EXPECT(guest_check_vm(&vm) != NULL, "a flush request nobody waits for is caught");
	w[2].g.tlb_wait = 1;
	EXPECT(guest_check_vm(&vm) != NULL, "an initiator that is not spinning is caught");
	w[2].g.st = G_TLB_SPIN;
	EXPECT(guest_check_vm(&vm) == NULL, "a waiting initiator passes: %s", guest_check_vm(&vm));
}

int main(void)
{
	checker_catches();
	/* Whether a ticket convoy forms at 2x depends on the seed (the host's
	 * activity decides when the VM's vCPUs drift apart): the lock kinds are
	 * compared on the first two seeds of 1-10 where ticket convoys, and at least
	 * two of the ten must */
	int convoys = 0;
	for (int seed = 1; seed <= 10 && convoys < 2; seed++) {
		struct res t = run("ticket", seed, "", 1);
		if (t.long_waits < 200)
			continue;
		convoys++;
		struct res q = run("qspinlock", seed, "", 1);
		struct res a = run("tas", seed, "", 1);
		struct res p = run("pvqspinlock", seed, "", 1);
		/* qspinlock: the MCS queue grants in FIFO order, so it convoys like ticket:
		 * the same run, acquisition for acquisition */
		EXPECT(q.out_of_order == 0, "qspinlock is FIFO: %llu out of order",
		       (unsigned long long)q.out_of_order);
		EXPECT(q.completion_ms == t.completion_ms && q.long_waits == t.long_waits &&
		       q.acquisitions == t.acquisitions, "qspinlock behaves as ticket");
		/* pvqspinlock: far fewer long waits, sooner; tas in between */
		EXPECT(p.long_waits * 10 < t.long_waits, "pvqspinlock: %llu long waits, ticket %llu",
		       (unsigned long long)p.long_waits, (unsigned long long)t.long_waits);
		EXPECT(p.acquisitions == 80000 && a.acquisitions == 80000,
		       "pvqspinlock and tas finish their 80000 acquisitions");
		EXPECT(p.completion_ms < a.completion_ms && a.completion_ms < t.completion_ms,
		       "pvqspinlock %.1f < tas %.1f < ticket %.1f ms", p.completion_ms,
		       a.completion_ms, t.completion_ms);
		EXPECT(a.long_waits < t.long_waits, "tas has fewer long waits than ticket");
		/* halts and kicks: only the paravirt lock halts; every kick wakes a head
		 * that halted (once per acquisition) */
		EXPECT(t.halts == 0 && t.kicks == 0 && q.halts == 0 && a.halts == 0,
		       "spinning locks never halt");
		EXPECT(p.halts > 0 && p.kicks > 0 && p.kicks <= p.halts,
		       "pvqspinlock halts %llu, kicks %llu", (unsigned long long)p.halts,
		       (unsigned long long)p.kicks);
		/* lock stealing: requesters overtake a queue head that is not spinning */
		EXPECT(p.out_of_order > 0, "pvqspinlock lets requesters steal the lock");
	}
	EXPECT(convoys == 2, "ticket convoys (200 long waits or more) at 2x in at least 2 of seeds 1-10: %d",
	       convoys);
	/* pv_wait_early: with a SPIN_THRESHOLD that never runs out, the only way to
	 * halt is a queue node whose predecessor is halted or preempted: under
	 * overcommit it happens; alone on a clockwork host (nothing is ever
	 * preempted) it never does, and nothing is ever kicked */
	struct res e = run("pvqspinlock", 1, ",\"pv_spin_count\":1099511627776", 1);
	EXPECT(e.halts > 0, "wait-early halts under overcommit: %llu", (unsigned long long)e.halts);
	EXPECT(e.kicks <= e.halts, "kicks %llu <= halts %llu", (unsigned long long)e.kicks,
	       (unsigned long long)e.halts);
	struct res n = run("pvqspinlock", 1, ",\"pv_spin_count\":1099511627776", 0);
	EXPECT(n.halts == 0 && n.kicks == 0, "alone: %llu halts, %llu kicks",
	       (unsigned long long)n.halts, (unsigned long long)n.kicks);
	EXPECT(n.acquisitions == 80000, "alone it finishes");
	return t_finish("test_qspinlock");
}
