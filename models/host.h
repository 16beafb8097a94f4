/* host.h: the host's own behaviour, from a host profile (docs/host-profile.md):
 * what takes a pCPU away from the vCPU it runs (interrupts, the tick, kernel
 * threads, the hypervisor's or dom0's own work), how late timers fire, and the
 * guest-visible costs measured on that machine (a spin iteration, a wake-up IPI).
 *
 * A real host is not clockwork: each CPU is interrupted at its own irregular times,
 * so the order in which a pCPU alternates its vCPUs flips now and then, independently
 * per pCPU, and siblings of a VM drift in and out of running together. A profile is
 * measured by `vcpusim calibrate` on a real machine; the built-in "reference" profile
 * describes the machine named in scenarios/hosts/reference.json. */
#ifndef VCPUSIM_HOST_H
#define VCPUSIM_HOST_H
#include <cjson/cJSON.h>
#include <gsl/gsl_rng.h>
#include "sim/jparse.h"
#include "sim/simtime.h"

/* Activity classes. irq: the CPU is taken (an interrupt, the hypervisor below) and
 * given back to the same vCPU. task: another host task ran (a kernel thread, dom0),
 * so when it is done the host scheduler picks again. */
enum { HOST_IRQ, HOST_TASK, HOST_CLASSES };

/* An empirical distribution: bins [lo, hi) with counts; drawn log-uniformly within
 * the bin chosen in proportion to its count. */
struct host_hist {
	int n;
	double *lo, *hi, *cum;   /* cum[i]: counts of bins 0..i */
	double *ratio;           /* log(hi[i] / lo[i]) (for lo[i] > 0) */
	int *guide;              /* HOST_GUIDE entries: a bin at or near where a draw starts */
};
#define HOST_GUIDE 256

struct host_class {
	double rate_hz;          /* per CPU */
	struct host_hist len, iat;   /* activity lengths; times between activities */
};

struct host_profile {
	char *name;
	char *source;            /* the file it was read from, or "built-in" */
	char *machine;           /* one line: cpu model, cpus, kernel, date measured */
	double tsc_ghz;
	int tick_hz;
	int irq_time_accounting;     /* CONFIG_IRQ_TIME_ACCOUNTING: interrupt time is not
				      * charged to the interrupted task (sim_task_clock) */
	double spin_iteration_ns;    /* a load and a PAUSE */
	double ipi_ns;               /* cross-CPU wake-to-run, median */
	double tlb_flush_ns;         /* a TLB-shootdown IPI's handler on its target
	                                (absent from a profile: 0, models/host.c) */
	double tlb_ipi_ns;           /* a TLB-shootdown IPI's delivery and acknowledgement
	                                to a running target, median (absent: -1, and a
	                                scenario uses its guest.ipi_ns, sim/scenario.c) */
	struct host_hist timer_late; /* timer lateness */
	struct host_hist vcpu_switch; /* from one vCPU thread leaving its guest at the
	                                 tick to the next one's guest running again on
	                                 that CPU (KVM's exit, schedule(), entry; absent
	                                 from a profile: empty, no cost) */
	struct host_class cls[HOST_CLASSES];
};

/* Reads a profile from name ("reference": the built-in one) or a file path (relative
 * paths are taken from the directory of relative_to, the file that names it, if
 * given). On bad input: NULL, with jp failed at path. */
struct host_profile *host_profile_load(struct jp *jp, const char *name, const char *relative_to,
				       const char *path);
struct host_profile *host_profile_from_json(struct jp *jp, const cJSON *root, const char *source);
void host_profile_free(struct host_profile *p);
/* A draw in ns (>= 0) from h; 0 for an empty distribution. */
double host_hist_draw(const struct host_hist *h, gsl_rng *r);
double host_hist_mean(const struct host_hist *h);

extern const char host_profile_reference_json[];   /* generated from scenarios/hosts/reference.json */

/* The built-in profile as constants (cmake/host_table.cmake generates
 * host_profile_reference_table from the same file): a run with the default host
 * builds its profile from it instead of parsing the JSON (models/host_table.c). */
struct host_hist_table {
	int n;
	const double (*bins)[3];   /* [lo, hi, count], as in the JSON */
};
struct host_profile_table {
	const char *name, *machine;
	double tsc_ghz;
	int tick_hz, irq_time_accounting;
	double spin_iteration_ns, ipi_ns, tlb_flush_ns, tlb_ipi_ns;
	struct host_hist_table timer_late, vcpu_switch;
	struct {
		double rate_hz;
		struct host_hist_table len, iat;
	} cls[HOST_CLASSES];
};
extern const struct host_profile_table host_profile_reference_table;
struct host_profile *host_profile_from_table(const struct host_profile_table *t, const char *source);
/* h from bins already checked (the JSON reader's rules): its draws as parse_hist's. */
void host_hist_from_bins(struct host_hist *h, int n, const double (*bins)[3]);

#endif
