/* test_seed_effect.c: the paper's observation (Weng et al., HPDC 2011; docs/model.md): a
 * lock-heavy parallel VM alone on as many pCPUs as vCPUs has no long spinlock
 * waits; time-shared with a CPU-bound VM under Credit it suffers many long waits
 * (lock-holder and lock-waiter preemption) and a much longer completion. */
#include "testlib.h"

static const char *scen =
	"{\"name\":\"seed-effect\",\"seed\":%d,\"stop\":{\"max_ms\":%d},\"host\":{\"activity\":\"off\",\"pcpus\":4},"
	"\"vms\":[{\"name\":\"par\",\"vcpus\":4,\"workload\":{\"kind\":\"bsp\",\"iterations\":4000,"
	"\"grain_us\":500,\"barrier\":%s,\"locks_per_phase\":10,\"cs_ns\":4000}}%s]}";

static void run(const char *barrier, int seed)
{
	char json[1024];
	snprintf(json, sizeof json, scen, seed, 20000, barrier, "");
	struct scenario *sc = t_scenario(json);
	struct sim *s = t_run(sc);
	struct vm *alone = t_vm(s, "par");
	double t_alone = simtime_ms(alone->done_time);
	uint64_t lw_alone = alone->st.long_waits;
	snprintf(json, sizeof json, scen, seed, 20000, barrier,
		 ",{\"name\":\"hog\",\"vcpus\":4,\"workload\":{\"kind\":\"cpu_bound\"}}");
	struct scenario *sc2 = t_scenario(json);
	struct sim *s2 = t_run(sc2);
	struct vm *shared = t_vm(s2, "par");
	double t_shared = shared->done_time >= 0 ? simtime_ms(shared->done_time) : simtime_ms(s2->end);
	printf("barrier=%s seed %d: alone %.1f ms, %llu long waits of %llu; beside a 4-vCPU hog %s%.1f ms "
	       "(%.1fx alone), %llu long waits, max wait %llu cycles\n",
	       barrier, seed, t_alone, (unsigned long long)lw_alone,
	       (unsigned long long)alone->st.acquisitions, shared->done_time >= 0 ? "" : "unfinished after ",
	       t_shared, t_shared / t_alone, (unsigned long long)shared->st.long_waits,
	       (unsigned long long)shared->st.max_wait_cycles);
	EXPECT(alone->done_time >= 0, "finished alone");
	EXPECT(lw_alone == 0, "no long waits alone (%llu)", (unsigned long long)lw_alone);
	EXPECT(shared->st.long_waits >= 50, "many long waits when time-shared (%llu)",
	       (unsigned long long)shared->st.long_waits);
	/* a fair half of the host would double completion; much longer is > 2.5x */
	EXPECT(t_shared > 2.5 * t_alone, "much longer completion: %.1f vs %.1f alone", t_shared, t_alone);
	t_done(s, sc);
	t_done(s2, sc2);
}

int main(void)
{
	/* seed 1 falls into a ticket-lock convoy (every hand-over waits for a
	 * preempted next waiter), seed 3 does not: both suffer */
	run("false", 1);
	run("false", 3);
	return t_finish("test_seed_effect");
}
