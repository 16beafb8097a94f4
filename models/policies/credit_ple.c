/* credit_ple.c: the `credit-ple` policy: Xen 4.0 Credit for HVM guests on VMX with
 * pause-loop exiting, whose exit handler yields (xen/arch/x86/hvm/vmx/vmx.c,
 * RELEASE-4.0.0, vmx_vmexit_handler: EXIT_REASON_PAUSE_INSTRUCTION ->
 * do_sched_op_compat(SCHEDOP_yield) -> do_yield in xen/common/schedule.c:
 * raise_softirq(SCHEDULE_SOFTIRQ)). Credit itself has no yield path in 4.0
 * (no CSCHED_FLAG_VCPU_YIELD, which came later): the yield is an ordinary
 * schedule() in which csched_schedule requeues the spinner behind the vCPUs of
 * its priority (__runq_insert) and runs the head, or steals better work from a
 * peer when the head is OVER (csched_load_balance); with nothing better the
 * spinner runs on with a fresh slice.
 *
 * PLE (xen/arch/x86/hvm/vmx/vmcs.c, RELEASE-4.0.0: ple_gap 41, ple_window 4096
 * TSC cycles; Intel SDM 3B 21.6.13): a vCPU executing PAUSE in a loop for more
 * than ple_window cycles exits. VMX PLE applies only at CPL 0, so by default only
 * guest kernel spins exit (spinlocks, TLB shootdown waits); `ple_user` true also
 * lets user-level spins (barriers, hand-offs) exit, as AMD's pause filter would.
 * Interpretation: a spinner that Credit keeps running exits again every
 * ple_window cycles (each a yield, as on hardware); the window does not grow
 * (Xen 4.0 has no PLE window scaling). The exit's own cost is not charged (it is
 * spin time anyway). */
#include <stdlib.h>
#include "models/policies/credit.h"

struct ple_params {
	struct credit_params cp;   /* first: credit_init_with reads it */
	int64_t window;            /* cycles */
	int user;
};

struct ple_vcpu {
	struct event ev;
	uint64_t exits;
};

static const char *const extra_keys[] = { "ple_window", "ple_user", NULL };

static void *parse(struct jp *jp, const cJSON *sched, const char *path)
{
	struct credit_params *cp = credit_parse_params(jp, sched, path, extra_keys);
	struct ple_params *p = calloc(1, sizeof *p);
	if (!p) {
		fprintf(stderr, "vcpusim: out of memory\n");
		exit(1);
	}
	p->cp = *cp;
	free(cp);
	p->window = jp_int(jp, sched, path, "ple_window", 4096, 1, INT64_C(1) << 40);
	p->user = jp_bool(jp, sched, path, "ple_user", 0);
	return p;
}

static struct ple_vcpu *pv_of(struct sim *s, const struct vcpu *v)
{
	return &((struct ple_vcpu *)credit_of(s)->ext)[v->id];
}

static int kernel_spin(const struct vcpu *v)
{
	return v->g.st == G_LOCK_SPIN || v->g.st == G_TLB_SPIN;
}

static int ple_spinning(struct sim *s, const struct vcpu *v)
{
	const struct ple_params *p = s->policy_params;
	return kernel_spin(v) ||
	       (p->user && (v->g.st == G_BARRIER_SPIN || v->g.st == G_P2P_SPIN));
}

static simtime_t window_ns(struct sim *s)
{
	const struct ple_params *p = s->policy_params;
	simtime_t ns = (simtime_t)((double)p->window / s->host.ghz + 0.5);
	return ns > 0 ? ns : 1;
}

static void spin(struct sim *s, struct vcpu *v)
{
	if (ple_spinning(s, v))
		sim_at(s, &pv_of(s, v)->ev, s->now + window_ns(s));
}

static void ple_event(struct sim *s, struct event *ev)
{
	struct vcpu *v = ev->owner;
	if (!v->running_on || v->state != VCPU_RUNNING || !ple_spinning(s, v))
		return;
	if (v->running_on->host_busy) {
		/* stalled by host activity: it spins again once resumed */
		sim_at(s, ev, v->running_on->host_until + window_ns(s));
		return;
	}
	pv_of(s, v)->exits++;
	/* the next exit, if Credit keeps it running and it still spins */
	sim_at(s, ev, s->now + window_ns(s));
	sim_raise_schedule(s, v->running_on);   /* do_yield */
}

static void init(struct sim *s)
{
	const struct ple_params *p = s->policy_params;
	credit_init_with(s, &p->cp);
	struct credit *c = credit_of(s);
	struct ple_vcpu *e = calloc((size_t)s->nvcpus > 0 ? (size_t)s->nvcpus : 1, sizeof *e);
	if (!e) {
		fprintf(stderr, "vcpusim: out of memory\n");
		exit(1);
	}
	c->ext = e;
	for (int i = 0; i < s->nvms; i++)
		for (int j = 0; j < s->vms[i].nvcpus; j++) {
			struct vcpu *v = &s->vms[i].vcpus[j];
			event_init(&e[v->id].ev, ple_event, v, EV_POLICY);
		}
}

static void destroy(struct sim *s)
{
	struct credit *c = credit_of(s);
	if (c && c->ext) {
		free(c->ext);
		c->ext = NULL;
	}
	credit_destroy(s);
}

static void report_vm(struct sim *s, struct vm *vm, cJSON *out)
{
	uint64_t exits = 0;
	for (int i = 0; i < vm->nvcpus; i++)
		exits += pv_of(s, &vm->vcpus[i])->exits;
	cJSON_AddNumberToObject(out, "ple_exits", (double)exits);
}

const struct sched_ops sched_credit_ple = {
	.name = "credit-ple",
	.summary = "Xen 4.0 Credit for HVM guests on VMX: a pause-loop exit yields (requeued behind its equals)",
	.source = "xen/arch/x86/hvm/vmx/vmx.c, vmcs.c, xen/common/schedule.c do_yield (RELEASE-4.0.0)",
	.parse = parse,
	.free_params = free,
	.init = init,
	.destroy = destroy,
	.wake = credit_wake,
	.sleep = credit_sleep,
	.do_schedule = credit_do_schedule,
	.spin = spin,
	.check = credit_check,
	.report_vm = report_vm,
};
