/* test_locks.c: guest spinlock semantics (model.md, "Guest model"): ticket locks
 * hand over in request order, even to a preempted waiter (lock-waiter preemption);
 * test-and-set locks need not. Observed through the simulator's observer hook. */
#include "testlib.h"

#define MAXV 64

struct order {
	uint64_t requests, acquisitions, out_of_order;
	uint64_t seq[MAXV];     /* request sequence number of each vCPU's pending request */
	uint64_t next_req, last_acq_seq;
	int have_last;
	uint64_t waiter_preempted_handovers;
};

static void observe(struct sim *s, enum observe_what what, struct vcpu *v, const void *obj)
{
	struct order *o = s->observer_data;
	const struct glock *l = obj;
	if (l->id != 0)          /* lock 0 is the workload's lock; the last is the futex bucket */
		return;
	if (what == OBS_LOCK_REQUEST) {
		o->requests++;
		o->seq[v->id] = o->next_req++;
	} else if (what == OBS_LOCK_ACQUIRE) {
		o->acquisitions++;
		if (o->have_last && o->seq[v->id] < o->last_acq_seq)
			o->out_of_order++;
		o->last_acq_seq = o->seq[v->id];
		o->have_last = 1;
	} else if (what == OBS_LOCK_RELEASE) {
		/* the next ticket's owner is queued but not running: waiter preemption */
		if (l->kind != LOCK_TAS && l->waiters && l->waiters->state != VCPU_RUNNING)
			o->waiter_preempted_handovers++;
	}
}

static struct order run(const char *kind)
{
	char json[1024];
	snprintf(json, sizeof json,
		 "{\"name\":\"locks-%s\",\"seed\":3,\"stop\":{\"max_ms\":2000},\"host\":{\"activity\":\"off\",\"pcpus\":4},"
		 "\"guest\":{\"spinlock\":\"%s\"},"
		 "\"vms\":[{\"name\":\"par\",\"vcpus\":4,\"workload\":{\"kind\":\"bsp\",\"iterations\":2000,"
		 "\"grain_us\":500,\"barrier\":false,\"locks_per_phase\":10,\"cs_ns\":1000}},"
		 "{\"name\":\"hog\",\"vcpus\":4,\"workload\":{\"kind\":\"cpu_bound\"}}]}",
		 kind, kind);
	struct scenario *sc = t_scenario(json);
	struct sim *s = sim_create(sc);
	struct order o = { 0 };
	s->observe = observe;
	s->observer_data = &o;
	EXPECT(sim_run(s) == 0, "invariants held");
	printf("%-8s: %llu requests, %llu acquisitions, %llu out of request order, "
	       "%llu hand-overs to a preempted waiter\n", kind, (unsigned long long)o.requests,
	       (unsigned long long)o.acquisitions, (unsigned long long)o.out_of_order,
	       (unsigned long long)o.waiter_preempted_handovers);
	t_done(s, sc);
	return o;
}

int main(void)
{
	struct order t = run("ticket");
	EXPECT(t.acquisitions > 1000, "the lock was used: %llu", (unsigned long long)t.acquisitions);
	EXPECT(t.out_of_order == 0, "ticket hands over in FIFO order, %llu out of order",
	       (unsigned long long)t.out_of_order);
	EXPECT(t.waiter_preempted_handovers > 0, "ticket shows lock-waiter preemption");
	struct order a = run("tas");
	EXPECT(a.acquisitions > 1000, "the lock was used: %llu", (unsigned long long)a.acquisitions);
	EXPECT(a.out_of_order > 0, "tas let someone overtake under contention");
	struct order p = run("pvticket");
	EXPECT(p.out_of_order == 0, "pvticket is FIFO too");
	return t_finish("test_locks");
}
