/* results.c: builds the results JSON (interface.md) from a finished simulation and
 * prints the summary table. Every value is derived from simulated quantities only
 * (wall_s aside), so equal scenarios and seeds give byte-identical files. */
#include "sim/results.h"
#include <math.h>
#include <string.h>
#include "sim/sim.h"
#include "sim/provenance.h"

static double ms(simtime_t t) { return simtime_ms(t); }

static double lat_bucket_mid(int b)
{
	if (b < LAT_SUB)
		return b;
	int lg = b / LAT_SUB + 3, sub = b % LAT_SUB;
	double lo = (double)((uint64_t)(LAT_SUB + sub) << (lg - 4));
	double width = (double)((uint64_t)1 << (lg - 4));
	return lo + width / 2;
}

double results_wake_latency_ns(const struct vm *vm, double q)
{
	uint64_t total = 0;
	for (int b = 0; b < LAT_BUCKETS; b++)
		total += vm->st.wake_lat[b];
	if (!total)
		return 0;
	uint64_t need = (uint64_t)ceil(q * (double)total), seen = 0;
	if (need < 1)
		need = 1;
	for (int b = 0; b < LAT_BUCKETS; b++) {
		seen += vm->st.wake_lat[b];
		if (seen >= need) {
			double mid = lat_bucket_mid(b);
			return mid > (double)vm->wake_lat_max ? (double)vm->wake_lat_max : mid;
		}
	}
	return (double)vm->wake_lat_max;
}

static void vm_totals(const struct vm *vm, struct vcpu_stats *t)
{
	memset(t, 0, sizeof *t);
	for (int i = 0; i < vm->nvcpus; i++) {
		const struct vcpu_stats *v = &vm->vcpus[i].st;
		t->work_ns += v->work_ns;
		t->spin_ns += v->spin_ns;
		t->sys_ns += v->sys_ns;
		t->steal_ns += v->steal_ns;
		t->ready_ns += v->ready_ns;
		t->lock_spin_ns += v->lock_spin_ns;
		t->barrier_spin_ns += v->barrier_spin_ns;
		t->p2p_spin_ns += v->p2p_spin_ns;
		t->tlb_spin_ns += v->tlb_spin_ns;
		t->preemptions += v->preemptions;
		t->migrations += v->migrations;
		t->wakes += v->wakes;
	}
}

/* Guest kernel waits by cause (models/guest.c): spinlock acquisitions, TLB
 * shootdown initiators, threads woken by a reschedule IPI. */
static void results_kernel_waits(struct sim *s, struct vm *vm, cJSON *o)
{
	static const char *const names[KW_CAUSES] = { "spinlock", "tlb_shootdown", "resched_ipi",
							       "rq_lock" };
	cJSON *kw = cJSON_AddObjectToObject(o, "kernel_waits");
	for (int c = 0; c < KW_CAUSES; c++) {
		const struct kwait *k = &vm->st.kwait[c];
		if (c == KW_RQLOCK && !s->guest.ttwu_rq_lock)
			continue;   /* only with the rq-lock wake-up path */
		cJSON *x = cJSON_AddObjectToObject(kw, names[c]);
		cJSON_AddNumberToObject(x, "waits", (double)k->n);
		cJSON_AddNumberToObject(x, "long_waits", (double)k->long_n);
		cJSON_AddNumberToObject(x, "wait_ms", ms(k->total));
		cJSON_AddNumberToObject(x, "max_us", simtime_us(k->max));
		if (c == KW_RQLOCK)   /* CPU burnt spinning for them */
			cJSON_AddNumberToObject(x, "spin_ms", ms(vm->st.rq_spin_ns));
		if (c == KW_TLB) {
			cJSON_AddNumberToObject(x, "ipis", (double)vm->st.tlb_ipis);
			cJSON_AddNumberToObject(x, "deferred", (double)vm->st.tlb_deferred);
			if (s->guest.tlb_flush_ns > 0)   /* the targets' handlers */
				cJSON_AddNumberToObject(x, "target_flush_ms",
							ms(vm->st.tlb_flush_cpu_ns));
		}
	}
}

static cJSON *vm_json(struct sim *s, struct vm *vm)
{
	struct vcpu_stats t;
	vm_totals(vm, &t);
	cJSON *o = cJSON_CreateObject();
	cJSON_AddStringToObject(o, "name", vm->name);
	cJSON_AddNumberToObject(o, "vcpus", vm->nvcpus);
	cJSON_AddStringToObject(o, "workload", vm->wk->name);
	cJSON_AddBoolToObject(o, "finished", vm->done_time >= 0);
	if (vm->done_time >= 0)
		cJSON_AddNumberToObject(o, "completion_ms", ms(vm->done_time - vm->start_ns));
	else
		cJSON_AddNullToObject(o, "completion_ms");
	cJSON_AddNumberToObject(o, "cpu_ms", ms(t.work_ns + t.spin_ns + t.sys_ns));
	cJSON_AddNumberToObject(o, "work_ms", ms(t.work_ns));
	/* useful CPU per simulated time, in pCPUs: throughput comparable between
	 * runs of different lengths (a run ends when the finite VMs finish) */
	cJSON_AddNumberToObject(o, "work_rate", s->end > 0 ? (double)t.work_ns / (double)s->end : 0);
	cJSON_AddNumberToObject(o, "spin_ms", ms(t.spin_ns));
	cJSON_AddNumberToObject(o, "sys_ms", ms(t.sys_ns));
	cJSON_AddNumberToObject(o, "lock_spin_ms", ms(t.lock_spin_ns));
	cJSON_AddNumberToObject(o, "barrier_spin_ms", ms(t.barrier_spin_ns));
	cJSON_AddNumberToObject(o, "p2p_spin_ms", ms(t.p2p_spin_ns));
	cJSON_AddNumberToObject(o, "tlb_spin_ms", ms(t.tlb_spin_ns));
	cJSON *sp = cJSON_AddObjectToObject(o, "spin");
	cJSON_AddNumberToObject(sp, "acquisitions", (double)vm->st.acquisitions);
	cJSON_AddNumberToObject(sp, "long_waits", (double)vm->st.long_waits);
	cJSON_AddNumberToObject(sp, "max_wait_cycles", (double)vm->st.max_wait_cycles);
	/* real acquisitions the modelled ones stand for (npb UA aggregates them) */
	cJSON_AddNumberToObject(sp, "lock_calls", (double)vm->st.lock_calls);
	/* paravirt locks (pvticket, pvqspinlock): waiters that halted, unlockers' kicks */
	cJSON_AddNumberToObject(sp, "pv_halts", (double)vm->st.pv_halts);
	cJSON_AddNumberToObject(sp, "pv_kicks", (double)vm->st.pv_kicks);
	int last = 0;
	for (int b = 0; b < WAIT_HIST_BUCKETS; b++)
		if (vm->st.wait_hist[b])
			last = b;
	cJSON *h = cJSON_AddArrayToObject(sp, "histogram_log2_cycles");
	for (int b = 0; b <= last; b++)
		cJSON_AddItemToArray(h, cJSON_CreateNumber((double)vm->st.wait_hist[b]));
	cJSON_AddNumberToObject(o, "barriers", (double)vm->st.barriers);
	cJSON_AddNumberToObject(o, "futex_sleeps", (double)vm->st.futex_sleeps);
	/* point-to-point hand-off waits (OP_WAIT, npb LU's pipeline): all of them,
	 * those that had to spin, those >= long_wait_cycles, the longest */
	cJSON *pp = cJSON_AddObjectToObject(o, "p2p");
	cJSON_AddNumberToObject(pp, "waits", (double)vm->st.p2p_waits);
	cJSON_AddNumberToObject(pp, "spun", (double)vm->st.p2p_spun);
	cJSON_AddNumberToObject(pp, "long_waits", (double)vm->st.p2p_long_waits);
	cJSON_AddNumberToObject(pp, "max_wait_us", simtime_us(vm->st.p2p_wait_max));
	cJSON_AddNumberToObject(o, "ipis_sent", (double)vm->st.ipis_sent);
	results_kernel_waits(s, vm, o);
	cJSON_AddNumberToObject(o, "cosched_ms", ms(vm->st.cosched_ns));
	cJSON_AddNumberToObject(o, "mode_switches", (double)vm->st.mode_switches);
	/* steal: on a pCPU but stalled by the host's own activity; ready: runnable,
	 * waiting for a pCPU; together: all vCPUs executing at once (co-run) */
	cJSON_AddNumberToObject(o, "steal_ms", ms(t.steal_ns));
	cJSON_AddNumberToObject(o, "ready_ms", ms(t.ready_ns));
	cJSON_AddNumberToObject(o, "together_ms", ms(vm->st.together_ns));
	cJSON_AddNumberToObject(o, "preemptions", (double)t.preemptions);
	cJSON_AddNumberToObject(o, "migrations", (double)t.migrations);
	cJSON_AddNumberToObject(o, "wakes", (double)t.wakes);
	cJSON *wl = cJSON_AddObjectToObject(o, "wake_latency_us");
	cJSON_AddNumberToObject(wl, "p50", results_wake_latency_ns(vm, 0.50) / 1e3);
	cJSON_AddNumberToObject(wl, "p99", results_wake_latency_ns(vm, 0.99) / 1e3);
	cJSON_AddNumberToObject(wl, "max", (double)vm->wake_lat_max / 1e3);
	cJSON_AddNumberToObject(o, "requests", (double)vm->st.requests);
	if (s->ops->report_vm)
		s->ops->report_vm(s, vm, o);
	return o;
}

cJSON *results_build(struct sim *s, double wall_s)
{
	cJSON *r = cJSON_CreateObject();
	cJSON_AddStringToObject(r, "scenario", s->sc->name);
	cJSON_AddStringToObject(r, "policy", s->ops->name);
	cJSON_AddNumberToObject(r, "seed", (double)s->sc->seed);
	cJSON_AddNumberToObject(r, "sim_ms", ms(s->end));
	cJSON_AddBoolToObject(r, "stopped_at_max", s->hit_max);
	cJSON_AddNumberToObject(r, "events", (double)s->events);
	cJSON_AddNumberToObject(r, "wall_s", wall_s);
	provenance_add(r, s->sc);
	cJSON *h = cJSON_AddObjectToObject(r, "host");
	simtime_t busy = 0;
	for (int i = 0; i < s->host.npcpus; i++)
		busy += s->host.pcpus[i].busy_ns;
	cJSON_AddNumberToObject(h, "pcpus", s->host.npcpus);
	cJSON_AddNumberToObject(h, "utilization",
				s->end > 0 ? (double)busy / ((double)s->end * s->host.npcpus) : 0);
	cJSON_AddNumberToObject(h, "idle_with_runnable_ms", ms(s->idle_with_runnable_ns));
	cJSON_AddNumberToObject(h, "context_switches", (double)s->context_switches);
	cJSON_AddNumberToObject(h, "migrations", (double)s->migrations);
	cJSON_AddNumberToObject(h, "ipis", (double)s->ipis);
	simtime_t steal = 0;
	uint64_t acts = 0;
	for (int i = 0; i < s->host.npcpus; i++) {
		steal += s->host.pcpus[i].steal_ns;
		acts += s->host.pcpus[i].host_events;
	}
	/* the host's own activity (models/host.h): pCPU time it took, and how often */
	cJSON_AddNumberToObject(h, "steal_ms", ms(steal));
	cJSON_AddNumberToObject(h, "activity_events", (double)acts);
	cJSON *hp = cJSON_AddObjectToObject(r, "host_profile");
	cJSON_AddStringToObject(hp, "name", s->sc->profile->name);
	cJSON_AddStringToObject(hp, "source", s->sc->profile->source);
	cJSON_AddStringToObject(hp, "machine", s->sc->profile->machine);
	cJSON_AddStringToObject(hp, "activity", s->sc->activity ? "on" : "off");
	cJSON *vms = cJSON_AddArrayToObject(r, "vms");
	for (int i = 0; i < s->nvms; i++)
		cJSON_AddItemToArray(vms, vm_json(s, &s->vms[i]));
	return r;
}

void results_print_summary(FILE *f, struct sim *s, double wall_s)
{
	simtime_t busy = 0;
	for (int i = 0; i < s->host.npcpus; i++)
		busy += s->host.pcpus[i].busy_ns;
	fprintf(f, "scenario %s, policy %s, seed %llu: %.1f ms simulated%s, %llu events, %.2f s wall\n",
		s->sc->name, s->ops->name, (unsigned long long)s->sc->seed, ms(s->end),
		s->hit_max ? " (stopped at stop.max_ms)" : "", (unsigned long long)s->events, wall_s);
	fprintf(f, "host: %d pCPUs, utilization %.1f%%, idle with runnable %.1f ms, %llu context switches\n\n",
		s->host.npcpus, s->end ? 100.0 * (double)busy / ((double)s->end * s->host.npcpus) : 0,
		ms(s->idle_with_runnable_ns), (unsigned long long)s->context_switches);
	fprintf(f, "%-12s %5s %-9s %13s %10s %10s %10s %10s %10s %9s\n", "vm", "vcpus", "workload",
		"completion_ms", "cpu_ms", "work_ms", "spin_ms", "acquires", "long_waits", "preempts");
	for (int i = 0; i < s->nvms; i++) {
		struct vm *vm = &s->vms[i];
		struct vcpu_stats t;
		vm_totals(vm, &t);
		char comp[32];
		if (vm->done_time >= 0)
			snprintf(comp, sizeof comp, "%.1f", ms(vm->done_time - vm->start_ns));
		else
			snprintf(comp, sizeof comp, "%s", vm->finite ? "unfinished" : "-");
		fprintf(f, "%-12s %5d %-9s %13s %10.1f %10.1f %10.1f %10llu %10llu %9llu\n", vm->name,
			vm->nvcpus, vm->wk->name, comp, ms(t.work_ns + t.spin_ns + t.sys_ns),
			ms(t.work_ns), ms(t.spin_ns), (unsigned long long)vm->st.acquisitions,
			(unsigned long long)vm->st.long_waits, (unsigned long long)t.preemptions);
	}
	/* latency-sensitive VMs (io, mixed): what they are run for */
	for (int i = 0; i < s->nvms; i++) {
		struct vm *vm = &s->vms[i];
		if (!vm->st.requests)
			continue;
		fprintf(f, "%s: %llu requests served, wake-to-run latency p50 %.1f us, p99 %.1f us, max %.1f us\n",
			vm->name, (unsigned long long)vm->st.requests,
			results_wake_latency_ns(vm, 0.50) / 1e3, results_wake_latency_ns(vm, 0.99) / 1e3,
			(double)vm->wake_lat_max / 1e3);
	}
	/* coscheduling policies: time in coscheduled mode as the results JSON has it
	 * (the policy's report_vm closes a stretch still open at the end) */
	for (int i = 0; i < s->nvms; i++) {
		struct vm *vm = &s->vms[i];
		cJSON *o = vm_json(s, vm);
		double cos = cJSON_GetNumberValue(cJSON_GetObjectItem(o, "cosched_ms"));
		if (cos > 0 || vm->st.mode_switches)
			fprintf(f, "%s: coscheduled %.1f ms, %llu mode switches\n", vm->name, cos,
				(unsigned long long)vm->st.mode_switches);
		cJSON_Delete(o);
	}
}
