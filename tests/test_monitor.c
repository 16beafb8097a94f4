/* test_monitor.c: guest.monitor. ASMan's monitor, as in the paper, sees guest
 * kernel spinlock waits only, so a barrier-synchronised NPB kernel (long waits at
 * barriers, none on spinlocks) is never coscheduled; with monitor "all" the long
 * barrier waits are reported too and ASMan coschedules it, finishing faster. */
#include "testlib.h"

static void run(const char *monitor, double *completion, double *cosched)
{
	char json[1024];
	snprintf(json, sizeof json,
		 "{\"name\":\"monitor\",\"seed\":1,\"stop\":{\"max_ms\":60000},\"host\":{\"pcpus\":8},"
		 "\"scheduler\":{\"policy\":\"asman\"},\"guest\":{\"monitor\":\"%s\"},"
		 "\"vms\":[{\"name\":\"par\",\"vcpus\":8,\"workload\":{\"kind\":\"npb\",\"kernel\":\"cg\",\"class\":\"W\"}},"
		 "{\"name\":\"hog\",\"vcpus\":8,\"workload\":{\"kind\":\"cpu_bound\"}}]}",
		 monitor);
	struct scenario *sc = t_scenario(json);
	struct sim *s = t_run(sc);
	struct vm *par = t_vm(s, "par");

	*completion = par->done_time >= 0 ? simtime_ms(par->done_time) : -1;
	*cosched = simtime_ms(par->st.cosched_ns);
	printf("asman, monitor %-9s: CG class W beside a hog at 2x: completion %.1f ms, "
	       "%llu spinlock long waits, coscheduled %.1f ms, %llu mode switches\n",
	       monitor, *completion, (unsigned long long)par->st.long_waits, *cosched,
	       (unsigned long long)par->st.mode_switches);
	t_done(s, sc);

}

int main(void)
{
	double c1, k1, c2, k2;
	run("spinlocks", &c1, &k1);
	run("all", &c2, &k2);
	EXPECT(k1 == 0, "kernel-only monitor never coschedules a barrier-only kernel (%.1f ms)", k1);
	EXPECT(k2 > 0, "monitor all coschedules it (%.1f ms)", k2);
	EXPECT(c2 > 0 && c2 < 0.5 * c1, "and it finishes much sooner: %.1f vs %.1f ms", c2, c1);
	return t_finish("test_monitor");
}
