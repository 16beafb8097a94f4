/* test_trace_spawn.c: threads a trace's master creates do not exist before it
 * creates them (workloads/trace.c; docs/traces.md, "Replay").
 *  - A worker whose thread_begin follows the master's first fork halts from time 0
 *    (no spinning, its pCPU idle) until the master's fork wakes it with one IPI:
 *    it burns no CPU while the master runs its 5 ms of serial code, and the run
 *    lasts the serial code + the team's work + the wake-up, exactly.
 *  - A worker that began before the fork (as OTF2 imports and older traces may have
 *    it) is replayed as before: busy from time 0 to its region's first barrier.
 *  - With repeat 2 the worker is created once: one wake-up IPI, not two.
 *  - Determinism per seed with host activity on.
 *  - A native process's created thread (vms[].native, kvm policy) starts as a new
 *    thread that does not preempt the busy thread on its pCPU (WF_FORK): beside
 *    pinned busy loops it waits for that pCPU's next tick, where a VM's halted
 *    vCPU, kicked, preempts at once. Its wait, from the fork's send to its first
 *    run, is exact with host activity off; with 6.6's slice protection a wake
 *    just before a tick waits a tick more than with 6.17's (fair "eevdf-6.17").
 *  - start_ms delays a VM and its completion counts from it.
 * Before the creation rule, the first case spun for 5 ms on its own pCPU. */
#include "testlib.h"
#include <unistd.h>
#include "traces/trace.h"

#define MS 1000000ull
#define US 1000ull

/* thread 0: 5 ms serial, fork, a region of 10 steps of 200 us, join; thread 1
 * begins at begin1 (ns). */
static void write_trace(const char *path, uint64_t begin1)
{
	struct trace *t = trace_new();
	trace_set_str(&t->clock, "CLOCK_MONOTONIC ns");
	trace_set_str(&t->program, "spawn-test");
	trace_set_str(&t->host, "test");
	for (int i = 0; i < 2; i++) {
		int idx = trace_add_thread(t);
		struct trace_thread *th = &t->threads[idx];
		uint64_t now = i == 0 ? 0 : begin1;
		trace_push(th, now, TEV_THREAD_BEGIN, 0);
		if (i == 0) {
			now = 5 * MS;
			trace_push(th, now, TEV_FORK, 0);
		}
		now = 5 * MS + 30 * US;
		trace_push(th, now, TEV_REGION_BEGIN, 2);
		for (int b = 0; b < 10; b++) {
			now += 200 * US;
			trace_push(th, now, TEV_BARRIER_ENTER, TBAR_EXPLICIT);
			trace_push(th, now, TEV_BARRIER_EXIT, 0);
		}
		trace_push(th, now, TEV_REGION_END, 0);
		if (i == 0)
			trace_push(th, now, TEV_JOIN, 0);
		trace_push(th, now, TEV_THREAD_END, 0);
	}
	t->duration_ns = 5 * MS + 30 * US + 10 * 200 * US;
	char err[256];
	EXPECT(trace_write_file(t, path, err, sizeof err) == 0, "trace written: %s", err);
	trace_free(t);
}

static struct sim *replay(const char *path, const char *activity, int repeat, int seed,
			  struct scenario **sc)
{
	char json[1024];
	snprintf(json, sizeof json,
		 "{\"name\":\"spawn\",\"seed\":%d,\"start_spread_ms\":0,"
		 "\"host\":{\"pcpus\":2,\"activity\":\"%s\"},\"scheduler\":{\"policy\":\"kvm\",\"ple\":false},"
		 "\"vms\":[{\"name\":\"app\",\"vcpus\":2,\"workload\":{\"kind\":\"trace\",\"file\":\"%s\","
		 "\"repeat\":%d}}]}",
		 seed, activity, path, repeat);
	*sc = t_scenario(json);
	return t_run(*sc);
}

/* The created trace beside two busy loops pinned one per pCPU, the VM starting
 * at start_ms; returns the worker's wait from the fork's IPI send to its first run. */
static double beside_hogs(const char *path, int native, double start_ms, const char *fair)
{
	char json[1024];
	snprintf(json, sizeof json,
		 "{\"name\":\"native\",\"seed\":1,\"start_spread_ms\":0,"
		 "\"host\":{\"pcpus\":2,\"activity\":\"off\"},"
		 "\"scheduler\":{\"policy\":\"kvm\",\"ple\":false,\"fair\":\"%s\"},"
		 "\"vms\":[{\"name\":\"app\",\"vcpus\":2,\"native\":%s,\"start_ms\":%.6f,"
		 "\"workload\":{\"kind\":\"trace\",\"file\":\"%s\"}},"
		 "{\"name\":\"h0\",\"affinity\":[0],\"workload\":{\"kind\":\"cpu_bound\"}},"
		 "{\"name\":\"h1\",\"affinity\":[1],\"workload\":{\"kind\":\"cpu_bound\"}}]}",
		 fair, native ? "true" : "false", start_ms, path);
	struct scenario *sc = t_scenario(json);
	struct sim *s = t_run(sc);
	struct vm *vm = t_vm(s, "app");
	EXPECT(vm->st.kwait[KW_RESCHED].n == 1, "one creation wake-up: %llu",
	       (unsigned long long)vm->st.kwait[KW_RESCHED].n);
	double wait = (double)vm->st.kwait[KW_RESCHED].total / 1e6;
	printf("beside busy loops, native %d, %s, start %.4f ms: worker waited %.4f ms, run %.4f ms\n",
	       native, fair, start_ms, wait, (double)(vm->done_time - vm->start_ns) / 1e6);
	t_done(s, sc);
	return wait;
}

int main(void)
{
	char dir[] = "/tmp/vcpusim-spawn-XXXXXX";
	EXPECT(mkdtemp(dir) != NULL, "temp dir");
	char created[300], early[300];
	snprintf(created, sizeof created, "%s/created.vtr", dir);
	snprintf(early, sizeof early, "%s/early.vtr", dir);
	write_trace(created, 5 * MS + 10 * US);   /* begins after the fork */
	write_trace(early, 0);                    /* exists from the start */

	struct scenario *sc;
	struct sim *s = replay(created, "off", 1, 1, &sc);
	struct vm *vm = t_vm(s, "app");
	struct vcpu *w = &vm->vcpus[1];
	double done = (double)vm->done_time / 1e6;
	double ipi = s->guest.ipi_ns / 1e6;
	printf("created worker: run %.4f ms (5 serial + 2 work + wake-up %.4f), worker spun %.4f ms, "
	       "ran %.4f ms, ipis %llu, resched waits %llu\n", done, ipi,
	       (double)w->st.barrier_spin_ns / 1e6, (double)(w->st.work_ns + w->st.spin_ns) / 1e6,
	       (unsigned long long)vm->st.ipis_sent, (unsigned long long)vm->st.kwait[KW_RESCHED].n);
	EXPECT(vm->st.ipis_sent == 1, "one wake-up IPI creates the worker: %llu",
	       (unsigned long long)vm->st.ipis_sent);
	EXPECT(vm->st.kwait[KW_RESCHED].n == 1, "the worker's wake-up wait recorded once");
	EXPECT(w->st.barrier_spin_ns < (simtime_t)(0.2 * MS),
	       "the worker did not spin through the master's serial code: %.3f ms",
	       (double)w->st.barrier_spin_ns / 1e6);
	/* the master spins at the region's first barrier for the worker's wake-up */
	EXPECT(fabs(done - (7.03 + ipi)) < 0.01, "run = serial + work + wake-up: %.4f ms", done);
	t_done(s, sc);

	s = replay(early, "off", 1, 1, &sc);
	vm = t_vm(s, "app");
	w = &vm->vcpus[1];
	double ran = (double)(w->st.work_ns + w->st.spin_ns) / 1e6;
	printf("early worker: run %.4f ms, worker ran %.4f ms, ipis %llu\n",
	       (double)vm->done_time / 1e6, ran, (unsigned long long)vm->st.ipis_sent);
	EXPECT(ran > 6.9, "a worker that exists from the start runs from time 0: %.3f ms", ran);
	EXPECT(vm->st.ipis_sent == 0, "no creation wake-up for it");
	t_done(s, sc);

	s = replay(created, "off", 2, 1, &sc);
	vm = t_vm(s, "app");
	printf("created worker, repeat 2: run %.4f ms, ipis %llu\n", (double)vm->done_time / 1e6,
	       (unsigned long long)vm->st.ipis_sent);
	EXPECT(vm->st.ipis_sent == 1, "created once over two repetitions: %llu IPIs",
	       (unsigned long long)vm->st.ipis_sent);
	EXPECT(vm->vcpus[1].st.barrier_spin_ns > (simtime_t)(4.9 * MS),
	       "in the second repetition the worker exists and spins through the serial code");
	t_done(s, sc);

	simtime_t d[2];
	for (int r = 0; r < 2; r++) {
		s = replay(created, "on", 1, 7, &sc);
		d[r] = t_vm(s, "app")->done_time;
		t_done(s, sc);
	}
	EXPECT(d[0] == d[1], "deterministic with host activity: %lld vs %lld", (long long)d[0],
	       (long long)d[1]);

	/* native creation: the fork's IPI is sent at start + 5 ms (the master preempts
	 * its busy loop on its first wake, an ordinary one) and arrives ipi_ns later;
	 * start 1 ms puts the arrival mid-tick, between the ticks at 4 and 8 ms, more
	 * than a base slice (1.5 ms) before the next */
	s = replay(created, "off", 1, 1, &sc);
	double ipi_ms = s->guest.ipi_ns / 1e6;
	t_done(s, sc);
	double wt = beside_hogs(created, 1, 1.0, "eevdf");
	EXPECT(fabs(wt - (8.0 - 6.0)) < 1e-6, "native: the created thread waits for its pCPU's tick "
	       "at 8 ms: %.6f ms from the send at 6 ms", wt);
	wt = beside_hogs(created, 0, 1.0, "eevdf");
	EXPECT(fabs(wt - ipi_ms) < 1e-6, "a VM's kicked vCPU preempts the busy loop at once: %.6f ms "
	       "(ipi %.6f)", wt, ipi_ms);
	/* the wake 0.1 ms before the tick at 8 ms: the busy loop's deadline, renewed at
	 * that enqueue, protects it past the tick under 6.6 (to the tick at 12 ms); 6.17
	 * reschedules at the tick since its protection ended long ago */
	double start = 8.0 - 0.1 - 5.0 - ipi_ms;
	wt = beside_hogs(created, 1, start, "eevdf-6.17");
	EXPECT(fabs(wt - (0.1 + ipi_ms)) < 1e-6, "6.17: runs at the next tick: %.6f ms", wt);
	wt = beside_hogs(created, 1, start, "eevdf");
	EXPECT(fabs(wt - (4.1 + ipi_ms)) < 1e-6, "6.6: a tick later: %.6f ms", wt);

	/* start_ms: alone, a late start changes nothing but when */
	simtime_t run[2];
	for (int r = 0; r < 2; r++) {
		char json[512];
		snprintf(json, sizeof json,
			 "{\"name\":\"late\",\"seed\":1,\"start_spread_ms\":0,"
			 "\"host\":{\"pcpus\":2,\"activity\":\"off\"},\"scheduler\":{\"policy\":\"kvm\"},"
			 "\"vms\":[{\"name\":\"app\",\"vcpus\":2,\"native\":true,\"start_ms\":%d,"
			 "\"workload\":{\"kind\":\"trace\",\"file\":\"%s\"}}]}", r ? 40 : 0, created);
		sc = t_scenario(json);
		s = t_run(sc);
		vm = t_vm(s, "app");
		run[r] = vm->done_time - vm->start_ns;
		EXPECT(vm->start_ns == (r ? 40 * (simtime_t)MS : 0), "start_ms read");
		t_done(s, sc);
	}
	EXPECT(run[0] == run[1], "completion counts from start_ms: %lld vs %lld ns",
	       (long long)run[0], (long long)run[1]);

	unlink(created);
	unlink(early);
	rmdir(dir);
	return t_finish("test_trace_spawn");
}
