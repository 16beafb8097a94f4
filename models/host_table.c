/* host_table.c: a host profile built from constants (struct host_profile_table,
 * models/host.h): the built-in "reference" profile, which cmake/host_table.cmake
 * generates from scenarios/hosts/reference.json at build time. Building it costs a
 * few allocations, where parsing the JSON (23 KB, ~1500 numbers through strtod and
 * a cJSON node each) was ~0.15-0.3 ms of every run's loading (issue 15). Its values
 * are the JSON reader's (tests/test_host.c compares the two field by field). */
#include "models/host.h"
#include "sim/xalloc.h"

struct host_profile *host_profile_from_table(const struct host_profile_table *t, const char *source)
{
	struct host_profile *p = xcalloc(1, sizeof *p);
	p->name = xstrdup(t->name);
	p->source = xstrdup(source);
	p->machine = xstrdup(t->machine);
	p->tsc_ghz = t->tsc_ghz;
	p->tick_hz = t->tick_hz;
	p->irq_time_accounting = t->irq_time_accounting;
	p->spin_iteration_ns = t->spin_iteration_ns;
	p->ipi_ns = t->ipi_ns;
	p->tlb_flush_ns = t->tlb_flush_ns;
	p->tlb_ipi_ns = t->tlb_ipi_ns;
	host_hist_from_bins(&p->timer_late, t->timer_late.n, t->timer_late.bins);
	host_hist_from_bins(&p->vcpu_switch, t->vcpu_switch.n, t->vcpu_switch.bins);
	for (int k = 0; k < HOST_CLASSES; k++) {
		p->cls[k].rate_hz = t->cls[k].rate_hz;
		host_hist_from_bins(&p->cls[k].len, t->cls[k].len.n, t->cls[k].len.bins);
		host_hist_from_bins(&p->cls[k].iat, t->cls[k].iat.n, t->cls[k].iat.bins);
	}
	return p;
}
