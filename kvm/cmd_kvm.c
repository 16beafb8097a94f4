/* cmd_kvm.c: `vcpusim kvm SCENARIO.json`: runs a scenario's VMs as real KVM
 * virtual machines on this host (kvm/monitor.c) and writes the same results JSON
 * as `vcpusim run`, plus "host_info" and a per-VM "real" object (issue 9,
 * docs/validation.md).
 *
 * Mapping of the scenario onto the host: pCPU i is host CPU i (host.pcpus must not
 * exceed the CPUs this process may use; every thread of the run is confined to
 * CPUs 0..pcpus-1); a VM's affinity pins its vCPU threads; workloads bsp and
 * cpu_bound run as the guest program kvm/guest/guest.c; spinlocks ticket and tas.
 * The optional "kvm" section of a scenario (ignored by the simulator):
 *   "kvm": {"host_hogs": [{"name": "hog", "count": 1, "affinity": [0]}],
 *           "gap_us": 20}
 * host_hogs are host processes that only burn CPU (overcommit without a second VM);
 * gap_us is the TSC step the guest takes for "my vCPU was not running". With
 * --sim-scenario the command writes the simulator's equivalent of the scenario
 * instead: each hog becomes a 1-vCPU cpu_bound VM with the same affinity (to a host
 * scheduler a vCPU thread and a process are both one task). */
#define _GNU_SOURCE
#include <errno.h>
#include <sched.h>
#include <stdio.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include "kvm/monitor.h"
#include "models/guest.h"
#include "sim/trace.h"
#include "sim/cli.h"
#include "sim/provenance.h"
#include "sim/scenario.h"
#include "workloads/bsp.h"
#include "workloads/workload.h"

static const char kvm_help[] =
	"usage: vcpusim kvm SCENARIO.json [-o RESULTS.json] [--set PATH=VALUE]... [--trace T.json]\n"
	"                   [--nice N]\n"
	"       vcpusim kvm SCENARIO.json --sim-scenario OUT.json\n"
	"       vcpusim kvm --probe\n"
	"(SCENARIO - reads standard input; an output - writes standard output)\n\n"
	"Runs the scenario's VMs as real KVM virtual machines on this host, through vcpusim's\n"
	"own small monitor (/dev/kvm; no QEMU, no guest OS): each vCPU is a host thread,\n"
	"pinned as the scenario's affinity says, pCPU i = host CPU i. The guest runs the\n"
	"workload in ring 3 and measures it with the TSC: lock waits in the same log2-cycle\n"
	"histogram as the simulator, long waits, lock holds, completion. Workloads: bsp,\n"
	"cpu_bound; spinlocks: ticket, tas; barriers spin guest.barrier_spin_count x\n"
	"spin_iteration_cycles, then halt the vCPU until the last thread arrives (libgomp's\n"
	"spin-then-block; the vCPU thread sleeps on a futex). Writes the results JSON of\n"
	"`vcpusim run` plus \"host_info\" with -o, else prints a summary.\n\n"
	"  -o FILE              write results JSON to FILE (atomically)\n"
	"  --trace FILE         write the real schedule (when each vCPU ran, from the guest's\n"
	"                       TSC gaps) as Chrome/Perfetto trace events, as `run --trace`\n"
	"  --set PATH=VALUE     override a scenario value (as in `vcpusim run`)\n"
	"  --sim-scenario FILE  write the simulator's equivalent scenario (host_hogs become\n"
	"                       native 1-vCPU cpu_bound VMs; a relative host.profile is\n"
	"                       written as the absolute file it names) and exit\n"
	"  --sim-noise T:S      with --sim-scenario: add the host's own activity, a 1-vCPU VM\n"
	"                       per pCPU that sleeps T us and computes S us (io workload)\n"
	"  --nice N             run every vCPU thread and hog at nice N, in a session (and so\n"
	"                       a scheduler autogroup) of their own at nice N: on a shared\n"
	"                       machine -20 leaves other users' processes ~1% of a CPU, while\n"
	"                       the run's own tasks, all alike, share CPUs as they would at 0\n"
	"  --probe              exit 0 if KVM is usable here, else 1 with the reason\n\n"
	"Scenario section \"kvm\" (the simulator ignores it):\n"
	"  host_hogs  [{\"name\": \"hog\", \"count\": 1, \"affinity\": [0]}]: CPU-burning processes\n"
	"  gap_us     20: a TSC step longer than this is time the vCPU did not run\n"
	"Exit codes: 0 success, 2 bad input (names file and JSON path), 1 KVM missing or\n"
	"unusable, or the run failed.\n";

#define MAX_HOGS 256

struct kvm_opts {
	struct kvm_hog_spec *hogs;
	int **hog_aff;
	char **hog_names;
	int nhogs;
	double gap_us;
};

static void free_opts(struct kvm_opts *o)
{
	for (int i = 0; i < o->nhogs; i++) {
		free(o->hog_aff[i]);
		free(o->hog_names[i]);
	}
	free(o->hogs);
	free(o->hog_aff);
	free(o->hog_names);
}

/* Reads the "kvm" section (see the header comment). */
static void parse_kvm_section(struct jp *jp, const cJSON *root, int npcpus, struct kvm_opts *o)
{
	static const char *const keys[] = { "host_hogs", "gap_us", "description", NULL };
	static const char *const hog_keys[] = { "name", "count", "affinity", NULL };
	memset(o, 0, sizeof *o);
	const cJSON *k = jp_obj(jp, root, "", "kvm", 0);
	jp_only_keys(jp, k, "kvm", keys);
	o->gap_us = jp_num(jp, k, "kvm", "gap_us", 20, 0.1, 1e6);
	jp_str(jp, k, "kvm", "description", "");
	const cJSON *arr = jp_array(jp, k, "kvm", "host_hogs", 0);
	if (jp->failed || !arr)
		return;
	o->hogs = calloc(MAX_HOGS, sizeof *o->hogs);
	o->hog_aff = calloc(MAX_HOGS, sizeof *o->hog_aff);
	o->hog_names = calloc(MAX_HOGS, sizeof *o->hog_names);
	const cJSON *h;
	int i = 0;
	cJSON_ArrayForEach(h, arr) {
		char path[JP_PATH_MAX], ap[JP_PATH_MAX];
		jp_index(path, "kvm.host_hogs", i++);
		if (!cJSON_IsObject(h)) {
			jp_expected(jp, path, h, "an object {\"name\", \"count\", \"affinity\"}");
			return;
		}
		jp_only_keys(jp, h, path, hog_keys);
		const char *name = jp_str(jp, h, path, "name", "hog");
		int count = (int)jp_int(jp, h, path, "count", 1, 1, MAX_HOGS);
		const cJSON *a = jp_array(jp, h, path, "affinity", 0);
		if (jp->failed)
			return;
		if (!*name || strlen(name) > 40 || strpbrk(name, "\",\\\n\t")) {
			jp_fail(jp, path, "name: expected 1 to 40 characters without quotes, commas or backslashes");
			return;
		}
		int *aff = NULL;
		if (a) {
			jp_join(ap, path, "affinity");
			if (cJSON_GetArraySize(a) == 0) {
				jp_fail(jp, ap, "expected a non-empty list of pCPU ids");
				return;
			}
			aff = calloc((size_t)npcpus, sizeof *aff);
			const cJSON *e;
			int j = 0;
			cJSON_ArrayForEach(e, a) {
				char ep[JP_PATH_MAX];
				jp_index(ep, ap, j++);
				if (!jp_is_integer(e) || e->valuedouble < 0 || e->valuedouble >= npcpus) {
					char what[64];
					snprintf(what, sizeof what, "a pCPU id in [0, %d]", npcpus - 1);
					jp_expected(jp, ep, e, what);
					free(aff);
					return;
				}
				aff[(int)e->valuedouble] = 1;
			}
		}
		for (int r = 0; r < count; r++) {
			if (o->nhogs >= MAX_HOGS) {
				jp_fail(jp, "kvm.host_hogs", "more than %d hogs", MAX_HOGS);
				free(aff);
				return;
			}
			char full[64];
			snprintf(full, sizeof full, count > 1 ? "%s-%d" : "%s", name, r);
			o->hog_names[o->nhogs] = strdup(full);
			if (aff) {
				o->hog_aff[o->nhogs] = malloc((size_t)npcpus * sizeof *aff);
				memcpy(o->hog_aff[o->nhogs], aff, (size_t)npcpus * sizeof *aff);
			}
			o->hogs[o->nhogs].name = o->hog_names[o->nhogs];
			o->hogs[o->nhogs].affinity = o->hog_aff[o->nhogs];
			o->nhogs++;
		}
		free(aff);
	}
}

/* The simulator's version of the scenario: hogs as 1-vCPU cpu_bound VMs; with
 * noise (think_us > 0), one more 1-vCPU VM per pCPU, pinned there, running the io
 * workload (sleep think_us, compute service_us, exponential): the host's own
 * activity (kernel threads, interrupts, other processes) that the model otherwise
 * leaves out (docs/validation.md). */
static int write_sim_scenario(struct jp *jp, cJSON *root, const struct kvm_opts *o,
			      const char *out, int npcpus, double think_us, double service_us,
			      const char *profile_file)
{
	cJSON *doc = cJSON_Duplicate(root, 1);
	/* a host profile named relative to the scenario's directory: the written
	 * scenario may be elsewhere, so it names the file the run read, absolutely */
	cJSON *host = cJSON_GetObjectItem(doc, "host");
	cJSON *prof = host ? cJSON_GetObjectItem(host, "profile") : NULL;
	char abs[PATH_MAX];
	if (cJSON_IsString(prof) && prof->valuestring[0] != '/' && strcmp(prof->valuestring, "reference") &&
	    profile_file && realpath(profile_file, abs))
		cJSON_ReplaceItemInObject(host, "profile", cJSON_CreateString(abs));
	cJSON *k = cJSON_DetachItemFromObject(doc, "kvm");
	cJSON *hogs = k ? cJSON_GetObjectItem(k, "host_hogs") : NULL;
	cJSON *vms = cJSON_GetObjectItem(doc, "vms");
	const cJSON *h;
	cJSON_ArrayForEach(h, hogs) {
		cJSON *vm = cJSON_CreateObject();
		const cJSON *nm = cJSON_GetObjectItem(h, "name");
		cJSON_AddStringToObject(vm, "name", cJSON_IsString(nm) ? nm->valuestring : "hog");
		const cJSON *cnt = cJSON_GetObjectItem(h, "count");
		if (cnt)
			cJSON_AddItemToObject(vm, "count", cJSON_Duplicate(cnt, 1));
		cJSON_AddNumberToObject(vm, "vcpus", 1);
		/* a process, not a VM: the kvm policy's switches into it cost no world switch */
		cJSON_AddBoolToObject(vm, "native", 1);
		const cJSON *aff = cJSON_GetObjectItem(h, "affinity");
		if (aff)
			cJSON_AddItemToObject(vm, "affinity", cJSON_Duplicate(aff, 1));
		cJSON *w = cJSON_AddObjectToObject(vm, "workload");
		cJSON_AddStringToObject(w, "kind", "cpu_bound");
		cJSON_AddItemToArray(vms, vm);
	}
	for (int p = 0; think_us > 0 && p < npcpus; p++) {
		char name[32];
		snprintf(name, sizeof name, "host-noise-%d", p);
		cJSON *vm = cJSON_CreateObject();
		cJSON_AddStringToObject(vm, "name", name);
		cJSON_AddNumberToObject(vm, "vcpus", 1);
		cJSON_AddBoolToObject(vm, "native", 1);
		cJSON *aff = cJSON_AddArrayToObject(vm, "affinity");
		cJSON_AddItemToArray(aff, cJSON_CreateNumber(p));
		cJSON *w = cJSON_AddObjectToObject(vm, "workload");
		cJSON_AddStringToObject(w, "kind", "io");
		cJSON_AddNumberToObject(w, "think_us", think_us);
		cJSON_AddNumberToObject(w, "service_us", service_us);
		cJSON_AddItemToArray(vms, vm);
	}
	cJSON_Delete(k);
	char *text = cJSON_Print(doc);
	cJSON_Delete(doc);
	size_t len = strlen(text);
	text = realloc(text, len + 2);
	text[len] = '\n';
	int rc = write_file_atomic(out, text, len + 1);
	free(text);
	if (rc < 0) {
		fprintf(stderr, "vcpusim: %s: cannot write: %s\n", out, strerror(errno));
		return 1;
	}
	(void)jp;
	(void)o;
	return 0;
}

/* Maps expanded VM i back to its index in the scenario's "vms" array. */
static int json_index_of(const cJSON *root, int expanded)
{
	const cJSON *vms = cJSON_GetObjectItem(root, "vms"), *v;
	int i = 0, seen = 0;
	cJSON_ArrayForEach(v, vms) {
		const cJSON *c = cJSON_GetObjectItem(v, "count");
		int count = cJSON_IsNumber(c) ? (int)c->valuedouble : 1;
		if (expanded < seen + count)
			return i;
		seen += count;
		i++;
	}
	return 0;
}

/* Refuses what the real runner cannot run (exit 2 with the JSON path). */
static int check_runnable(struct jp *jp, const cJSON *root, const struct scenario *sc)
{
	if (sc->guest.lock_kind != LOCK_TICKET && sc->guest.lock_kind != LOCK_TAS) {
		jp_fail(jp, "guest.spinlock", "the KVM runner supports \"ticket\" and \"tas\", got \"%s\" (an OS-less guest has no paravirtual spinlock)",
			lock_kind_names[sc->guest.lock_kind]);
		return -1;
	}
	cpu_set_t mine;
	CPU_ZERO(&mine);
	sched_getaffinity(0, sizeof mine, &mine);
	for (int c = 0; c < sc->npcpus; c++)
		if (c >= CPU_SETSIZE || !CPU_ISSET(c, &mine)) {
			jp_fail(jp, "host.pcpus", "%d pCPUs, but host CPU %d is not available to this process (this host has %d: pCPU i runs on host CPU i)",
				sc->npcpus, c, CPU_COUNT(&mine));
			return -1;
		}
	for (int i = 0; i < sc->nvms; i++) {
		const struct vm_config *v = &sc->vms[i];
		char path[JP_PATH_MAX], wp[JP_PATH_MAX];
		jp_index(path, "vms", json_index_of(root, i));
		if (strcmp(v->wk->name, "bsp") && strcmp(v->wk->name, "cpu_bound")) {
			jp_join(wp, path, "workload.kind");
			jp_fail(jp, wp, "the KVM runner supports workloads \"bsp\" and \"cpu_bound\", got \"%s\"",
				v->wk->name);
			return -1;
		}
		if (v->vcpus > KGUEST_MAX_VCPUS) {
			jp_join(wp, path, "vcpus");
			jp_fail(jp, wp, "the KVM runner supports at most %d vCPUs per VM, got %d",
				KGUEST_MAX_VCPUS, v->vcpus);
			return -1;
		}
		if (!strcmp(v->wk->name, "bsp")) {
			struct bsp_desc d;
			bsp_describe(v->wp, &d);
			if (d.nlocks > KGUEST_MAX_LOCKS) {
				jp_join(wp, path, "workload.nlocks");
				jp_fail(jp, wp, "the KVM runner supports at most %d locks, got %d",
					KGUEST_MAX_LOCKS, d.nlocks);
				return -1;
			}
			if (d.tlb_per_phase > 0) {
				jp_join(wp, path, "workload.tlb_shootdowns_per_phase");
				jp_fail(jp, wp, "the KVM runner's OS-less guest has no TLB shootdowns, got %d per phase",
					d.tlb_per_phase);
				return -1;
			}
		}
		if (v->weight != 256 || v->cap != 0) {
			fprintf(stderr, "vcpusim kvm: note: %s: weight and cap are not applied to real vCPU threads\n",
				path);
		}
	}
	return 0;
}

static char *read_line_of(const char *file, const char *prefix)
{
	FILE *f = fopen(file, "r");
	if (!f)
		return NULL;
	char line[512];
	char *res = NULL;
	while (fgets(line, sizeof line, f)) {
		if (!strncmp(line, prefix, strlen(prefix))) {
			char *p = strchr(line, ':');
			p = p ? p + 1 : line + strlen(prefix);
			while (*p == ' ' || *p == '\t')
				p++;
			p[strcspn(p, "\n")] = 0;
			res = strdup(p);
			break;
		}
	}
	fclose(f);
	return res;
}

/* CONFIG_HZ from /proc/config.gz (through zcat) or /boot/config-RELEASE; 0 if unknown. */
static int kernel_hz(const char *release)
{
	char cmd[512], line[256];
	int hz = 0;
	snprintf(cmd, sizeof cmd,
		 "{ zcat /proc/config.gz 2>/dev/null || cat '/boot/config-%s' 2>/dev/null; } | grep '^CONFIG_HZ='",
		 release);
	FILE *p = popen(cmd, "r");
	if (!p)
		return 0;
	if (fgets(line, sizeof line, p))
		sscanf(line, "CONFIG_HZ=%d", &hz);
	pclose(p);
	return hz;
}

static cJSON *host_info(double tsc_khz)
{
	cJSON *o = cJSON_CreateObject();
	char *model = read_line_of("/proc/cpuinfo", "model name");
	cJSON_AddStringToObject(o, "cpu_model", model ? model : "unknown");
	free(model);
	struct utsname u;
	int hz = 0;
	if (uname(&u) == 0) {
		char k[600];
		snprintf(k, sizeof k, "%s %s %s", u.sysname, u.release, u.version);
		cJSON_AddStringToObject(o, "kernel", k);
		hz = kernel_hz(u.release);
		int major = 0, minor = 0;
		sscanf(u.release, "%d.%d", &major, &minor);
		cJSON_AddStringToObject(o, "scheduler",
					major > 6 || (major == 6 && minor >= 6) ? "EEVDF" : "CFS");
	}
	if (hz)
		cJSON_AddNumberToObject(o, "sched_tick_hz", hz);
	else
		cJSON_AddNullToObject(o, "sched_tick_hz");
	cJSON_AddNumberToObject(o, "online_cpus", (double)sysconf(_SC_NPROCESSORS_ONLN));
	cJSON_AddNumberToObject(o, "tsc_ghz", tsc_khz / 1e6);
	const char *mod = access("/sys/module/kvm_pvm", F_OK) == 0 ? "kvm_pvm (software, ring 0 emulated)"
			  : access("/sys/module/kvm_intel", F_OK) == 0 ? "kvm_intel"
			  : access("/sys/module/kvm_amd", F_OK) == 0 ? "kvm_amd" : "unknown";
	cJSON_AddStringToObject(o, "kvm_module", mod);
	FILE *f = fopen("/proc/loadavg", "r");
	char la[128];
	if (f && fgets(la, sizeof la, f)) {
		la[strcspn(la, "\n")] = 0;
		cJSON_AddStringToObject(o, "loadavg_at_end", la);
	}
	if (f)
		fclose(f);
	char *pre = NULL;
	f = fopen("/sys/kernel/debug/sched/preempt", "r");
	if (f) {
		char b[128];
		if (fgets(b, sizeof b, f)) {
			b[strcspn(b, "\n")] = 0;
			pre = strdup(b);
		}
		fclose(f);
	}
	if (pre)
		cJSON_AddStringToObject(o, "preempt", pre);
	free(pre);
	return o;
}

static double cyc_ms(uint64_t cycles, double tsc_khz) { return (double)cycles / tsc_khz; }

static cJSON *hist_json(const uint64_t *h)
{
	int last = 0;
	for (int b = 0; b < KGUEST_HIST; b++)
		if (h[b])
			last = b;
	cJSON *a = cJSON_CreateArray();
	for (int b = 0; b <= last; b++)
		cJSON_AddItemToArray(a, cJSON_CreateNumber((double)h[b]));
	return a;
}

struct tev {
	uint64_t t;
	int d;
};

static int tev_cmp(const void *a, const void *b)
{
	const struct tev *x = a, *y = b;
	if (x->t != y->t)
		return x->t < y->t ? -1 : 1;
	return x->d - y->d;   /* ends before starts at the same instant */
}

/* Wall time during which every vCPU of the VM was running at once (from the gap
 * logs; 0 if any vCPU's log overflowed): how much the host coscheduled it. */
static double together_ms(const struct kvm_vm_result *vr, int n, double khz)
{
	struct tev *evs;
	size_t cap = 0, k = 0;
	for (int v = 0; v < n; v++) {
		if (vr->v[v].ngaps > KGUEST_GAPLOG_N || !vr->v[v].start_tsc)
			return 0;
		cap += 2 * (vr->v[v].ngaps + 1);
	}
	evs = malloc(cap * sizeof *evs);
	for (int v = 0; v < n; v++) {
		const struct kguest_vcpu *g = &vr->v[v];
		uint64_t end = g->end_tsc ? g->end_tsc : g->last_tsc, from = g->start_tsc;
		for (uint64_t i = 0; i <= g->ngaps; i++) {
			uint64_t to = i < g->ngaps ? vr->gaplog[v][i].from : end;
			if (to > from) {
				evs[k++] = (struct tev){ from, 1 };
				evs[k++] = (struct tev){ to, -1 };
			}
			if (i < g->ngaps)
				from = vr->gaplog[v][i].to;
		}
	}
	qsort(evs, k, sizeof *evs, tev_cmp);
	int running = 0;
	uint64_t since = 0, total = 0;
	for (size_t i = 0; i < k; i++) {
		if (running == n)
			total += evs[i].t - since;
		running += evs[i].d;
		since = evs[i].t;
	}
	free(evs);
	return (double)total / khz;
}

struct vm_sum {
	struct kguest_vcpu g;       /* summed (max for the max fields) */
	double cpu_ms, stolen_ms;
	uint64_t vol, invol, migr;
};

static void sum_vm(const struct kvm_vm_result *vr, int n, struct vm_sum *s)
{
	memset(s, 0, sizeof *s);
	for (int i = 0; i < n; i++) {
		const struct kguest_vcpu *v = &vr->v[i];
		s->g.work_cycles += v->work_cycles;
		s->g.lock_spin_cycles += v->lock_spin_cycles;
		s->g.barrier_spin_cycles += v->barrier_spin_cycles;
		s->g.stolen_cycles += v->stolen_cycles;
		s->g.gaps += v->gaps;
		s->g.acquisitions += v->acquisitions;
		s->g.long_waits += v->long_waits;
		if (v->max_wait_cycles > s->g.max_wait_cycles)
			s->g.max_wait_cycles = v->max_wait_cycles;
		s->g.hold_cycles += v->hold_cycles;
		s->g.long_holds += v->long_holds;
		if (v->max_hold_cycles > s->g.max_hold_cycles)
			s->g.max_hold_cycles = v->max_hold_cycles;
		s->g.late_handoffs += v->late_handoffs;
		s->g.barriers += v->barriers;
		s->g.barrier_sleeps += v->barrier_sleeps;
		s->g.barrier_wakes += v->barrier_wakes;
		for (int b = 0; b < KGUEST_HIST; b++) {
			s->g.wait_hist[b] += v->wait_hist[b];
			s->g.hold_hist[b] += v->hold_hist[b];
		}
		s->cpu_ms += vr->r[i].cpu_ms;
		s->vol += vr->r[i].voluntary;
		s->invol += vr->r[i].involuntary;
		s->migr += vr->r[i].migrations;
	}
}

static cJSON *results_json(const struct scenario *sc, const struct kvm_run_spec *spec,
			   const struct kvm_run_result *res, const struct kvm_opts *o, double wall_s)
{
	double khz = res->tsc_khz;
	cJSON *r = cJSON_CreateObject();
	cJSON_AddStringToObject(r, "scenario", sc->name);
	cJSON_AddStringToObject(r, "policy", "real-kvm");
	cJSON_AddNumberToObject(r, "seed", (double)sc->seed);
	cJSON_AddNumberToObject(r, "sim_ms", res->elapsed_ms);
	cJSON_AddBoolToObject(r, "stopped_at_max", res->stopped_at_max);
	cJSON_AddNumberToObject(r, "events", 0);
	cJSON_AddNumberToObject(r, "wall_s", wall_s);
	provenance_add(r, sc);
	double busy = 0;
	uint64_t cs = 0, migr = 0;
	struct vm_sum *sums = calloc((size_t)spec->nvms, sizeof *sums);
	for (int i = 0; i < spec->nvms; i++) {
		sum_vm(&res->vms[i], spec->vms[i].nvcpus, &sums[i]);
		busy += sums[i].cpu_ms;
		cs += sums[i].vol + sums[i].invol;
		migr += sums[i].migr;
	}
	for (int h = 0; h < spec->nhogs; h++)
		busy += res->hogs[h].cpu_ms;
	cJSON *h = cJSON_AddObjectToObject(r, "host");
	cJSON_AddNumberToObject(h, "pcpus", spec->ncpus);
	cJSON_AddNumberToObject(h, "utilization",
				res->elapsed_ms > 0 ? busy / (res->elapsed_ms * spec->ncpus) : 0);
	cJSON_AddNullToObject(h, "idle_with_runnable_ms");   /* not observable from user space */
	cJSON_AddNumberToObject(h, "context_switches", (double)cs);
	cJSON_AddNumberToObject(h, "migrations", (double)migr);
	cJSON_AddNumberToObject(h, "ipis", 0);
	cJSON *vms = cJSON_AddArrayToObject(r, "vms");
	for (int i = 0; i < spec->nvms; i++) {
		const struct kvm_vm_result *vr = &res->vms[i];
		const struct vm_sum *s = &sums[i];
		cJSON *v = cJSON_CreateObject();
		cJSON_AddStringToObject(v, "name", spec->vms[i].name);
		cJSON_AddNumberToObject(v, "vcpus", spec->vms[i].nvcpus);
		cJSON_AddStringToObject(v, "workload", sc->vms[i].wk->name);
		cJSON_AddBoolToObject(v, "finished", vr->finished);
		if (vr->finished)
			cJSON_AddNumberToObject(v, "completion_ms", vr->completion_ms);
		else
			cJSON_AddNullToObject(v, "completion_ms");
		double work = cyc_ms(s->g.work_cycles, khz);
		double lspin = cyc_ms(s->g.lock_spin_cycles, khz);
		double bspin = cyc_ms(s->g.barrier_spin_cycles, khz);
		cJSON_AddNumberToObject(v, "cpu_ms", s->cpu_ms);
		cJSON_AddNumberToObject(v, "work_ms", work);
		cJSON_AddNumberToObject(v, "spin_ms", lspin + bspin);
		cJSON_AddNumberToObject(v, "sys_ms", 0);
		cJSON_AddNumberToObject(v, "lock_spin_ms", lspin);
		cJSON_AddNumberToObject(v, "barrier_spin_ms", bspin);
		cJSON *sp = cJSON_AddObjectToObject(v, "spin");
		cJSON_AddNumberToObject(sp, "acquisitions", (double)s->g.acquisitions);
		cJSON_AddNumberToObject(sp, "long_waits", (double)s->g.long_waits);
		cJSON_AddNumberToObject(sp, "max_wait_cycles", (double)s->g.max_wait_cycles);
		cJSON_AddItemToObject(sp, "histogram_log2_cycles", hist_json(s->g.wait_hist));
		cJSON_AddNumberToObject(v, "barriers", (double)s->g.barriers);
		cJSON_AddNumberToObject(v, "futex_sleeps", (double)s->g.barrier_sleeps);
		cJSON_AddNumberToObject(v, "ipis_sent", (double)s->g.barrier_wakes);
		cJSON_AddNumberToObject(v, "cosched_ms", 0);
		cJSON_AddNumberToObject(v, "mode_switches", 0);
		cJSON_AddNumberToObject(v, "preemptions", (double)s->invol);
		cJSON_AddNumberToObject(v, "migrations", (double)s->migr);
		cJSON_AddNumberToObject(v, "wakes", (double)s->vol);
		cJSON_AddNumberToObject(v, "requests", 0);
		cJSON *re = cJSON_AddObjectToObject(v, "real");
		cJSON_AddNumberToObject(re, "stolen_ms", cyc_ms(s->g.stolen_cycles, khz));
		cJSON_AddNumberToObject(re, "gaps", (double)s->g.gaps);
		cJSON_AddNumberToObject(re, "overhead_ms", s->cpu_ms - work - lspin - bspin);
		cJSON *ho = cJSON_AddObjectToObject(re, "hold");
		cJSON_AddNumberToObject(ho, "mean_cycles",
					s->g.acquisitions ? (double)s->g.hold_cycles / (double)s->g.acquisitions : 0);
		cJSON_AddNumberToObject(ho, "long_holds", (double)s->g.long_holds);
		cJSON_AddNumberToObject(ho, "max_cycles", (double)s->g.max_hold_cycles);
		cJSON_AddItemToObject(ho, "histogram_log2_cycles", hist_json(s->g.hold_hist));
		cJSON_AddNumberToObject(re, "late_handoffs", (double)s->g.late_handoffs);
		cJSON_AddNumberToObject(re, "together_ms", together_ms(vr, spec->vms[i].nvcpus, khz));
		cJSON *per = cJSON_AddArrayToObject(re, "vcpus");
		for (int c = 0; c < spec->vms[i].nvcpus; c++) {
			cJSON *pc = cJSON_CreateObject();
			cJSON_AddNumberToObject(pc, "cpu_ms", vr->r[c].cpu_ms);
			cJSON_AddNumberToObject(pc, "work_ms", cyc_ms(vr->v[c].work_cycles, khz));
			cJSON_AddNumberToObject(pc, "stolen_ms", cyc_ms(vr->v[c].stolen_cycles, khz));
			if (vr->r[c].done_ms >= 0)
				cJSON_AddNumberToObject(pc, "done_ms", vr->r[c].done_ms);
			else
				cJSON_AddNullToObject(pc, "done_ms");
			cJSON_AddNumberToObject(pc, "preemptions", (double)vr->r[c].involuntary);
			cJSON_AddItemToArray(per, pc);
		}
		cJSON_AddItemToArray(vms, v);
	}
	for (int k = 0; k < spec->nhogs; k++) {
		cJSON *v = cJSON_CreateObject();
		cJSON_AddStringToObject(v, "name", o->hogs[k].name);
		cJSON_AddNumberToObject(v, "vcpus", 1);
		cJSON_AddStringToObject(v, "workload", "host_hog");
		cJSON_AddBoolToObject(v, "finished", 0);
		cJSON_AddNullToObject(v, "completion_ms");
		cJSON_AddNumberToObject(v, "cpu_ms", res->hogs[k].cpu_ms);
		cJSON_AddNumberToObject(v, "work_ms", res->hogs[k].cpu_ms);
		cJSON_AddNumberToObject(v, "spin_ms", 0);
		cJSON_AddItemToArray(vms, v);
	}
	cJSON_AddItemToObject(r, "host_info", host_info(khz));
	cJSON *n = cJSON_AddObjectToObject(r, "kvm");
	cJSON_AddNumberToObject(n, "gap_us", o->gap_us);
	cJSON_AddNumberToObject(n, "scenario_ghz", sc->ghz);
	cJSON_AddNumberToObject(n, "nice", spec->nice);
	cJSON_AddStringToObject(n, "note",
				"cycles are the scenario's (ns x host.ghz), converted from the TSC; preemptions = involuntary context switches of the vCPU threads, wakes = voluntary ones");
	free(sums);
	return r;
}

/* The real schedule as Chrome/Perfetto trace events, in the format of `vcpusim run
 * --trace`: one track per pCPU (for vCPUs pinned to one pCPU; others get a track
 * of their own), a complete event for every stretch a vCPU ran, from the guest's
 * gap log. Each VM's TSC is mapped to the host's with its READY exits (a guest
 * TSC may be offset); time 0 is the common start. */
static int write_trace(const char *path, const struct kvm_run_spec *spec,
		       const struct kvm_run_result *res)
{
	struct outfile of;
	if (outfile_open(&of, path) < 0)
		return -1;
	FILE *f = of.f;
	double per_us = res->tsc_khz / 1e3;
	fputs("{\"displayTimeUnit\":\"ns\",\"traceEvents\":[\n", f);
	/* pid 1 and tids from TRACE_TID_BASE, as `run --trace` (sim/trace.c: Perfetto
	 * reserves pid 0); args.pcpu is the plot's row */
	fprintf(f, "{\"name\":\"process_name\",\"ph\":\"M\",\"pid\":1,\"args\":{\"name\":\"host (real KVM)\"}}");
	for (int i = 0; i < spec->ncpus; i++)
		fprintf(f, ",\n{\"name\":\"thread_name\",\"ph\":\"M\",\"pid\":1,\"tid\":%d,\"args\":{\"name\":\"pCPU %d\"}}",
			TRACE_TID_BASE + i, i);
	int extra = 0, truncated = 0;
	for (int i = 0; i < spec->nvms; i++) {
		const struct kvm_vm_spec *vs = &spec->vms[i];
		const struct kvm_vm_result *vr = &res->vms[i];
		/* guest TSC + offset = host TSC; each READY sample over-estimates the
		 * offset by the exit's latency, so the least is the best */
		int64_t offset = INT64_MAX;
		for (int v = 0; v < vs->nvcpus; v++) {
			int64_t o = (int64_t)(vr->r[v].host_tsc_at_ready - vr->v[v].ready_tsc);
			if (vr->v[v].ready_tsc && o < offset)
				offset = o;
		}
		if (offset == INT64_MAX)
			continue;
		uint64_t origin = (uint64_t)((int64_t)res->t0_tsc - offset);
		for (int v = 0; v < vs->nvcpus; v++) {
			const struct kguest_vcpu *g = &vr->v[v];
			if (!g->start_tsc)
				continue;
			int tid = -1, count = 0;
			for (int c = 0; c < spec->ncpus; c++)
				if (!vs->affinity || vs->affinity[v * spec->ncpus + c]) {
					tid = c;
					count++;
				}
			if (count != 1) {
				tid = spec->ncpus + extra++;
				char tname[300];
				snprintf(tname, sizeof tname, "%s.%d (not pinned)", vs->name, v);
				fprintf(f, ",\n{\"name\":\"thread_name\",\"ph\":\"M\",\"pid\":1,\"tid\":%d,\"args\":{\"name\":",
					TRACE_TID_BASE + tid);
				trace_put_jstr(f, tname);
				fputs("}}", f);
			}
			uint64_t ng = g->ngaps < KGUEST_GAPLOG_N ? g->ngaps : KGUEST_GAPLOG_N;
			truncated |= g->ngaps > KGUEST_GAPLOG_N;
			/* unfinished: up to the last time the guest was seen running */
			uint64_t end = g->end_tsc ? g->end_tsc : g->last_tsc;
			if (g->start_tsc < origin)
				continue;   /* cannot happen: it started after the release */
			uint64_t from = g->start_tsc;
			for (uint64_t k = 0; k <= ng; k++) {
				uint64_t to = k < ng ? vr->gaplog[v][k].from : end;
				if (k == ng && g->ngaps > KGUEST_GAPLOG_N)
					break;
				if (to > from) {
					char sname[300];
					snprintf(sname, sizeof sname, "%s.%d", vs->name, v);
					fputs(",\n{\"name\":", f);
					trace_put_jstr(f, sname);
					fprintf(f, ",\"cat\":\"vcpu\",\"ph\":\"X\",\"pid\":1,\"tid\":%d,\"ts\":%.3f,\"dur\":%.3f,\"args\":{\"vm\":",
						TRACE_TID_BASE + tid, (double)(from - origin) / per_us,
						(double)(to - from) / per_us);
					trace_put_jstr(f, vs->name);
					fprintf(f, ",\"vcpu\":%d,\"pcpu\":%d}}", v, tid);
				}
				if (k < ng)
					from = vr->gaplog[v][k].to;
			}
		}
	}
	/* real time, not simulated: `plot --timeline` labels its axis "time" */
	fprintf(f, "\n],\"metadata\":{\"clock\":\"real\",\"source\":\"vcpusim kvm\",\"version\":\"%s\"}}\n",
		VCPUSIM_VERSION);
	int err = outfile_commit(&of) < 0;
	if (truncated)
		fprintf(stderr, "vcpusim kvm: note: %s: some vCPUs were preempted more than %zu times; their trace stops there\n",
			path, (size_t)KGUEST_GAPLOG_N);
	return err ? -1 : 0;
}

static void print_summary(const struct scenario *sc, const struct kvm_run_spec *spec,
			  const struct kvm_run_result *res, const struct kvm_opts *o)
{
	printf("scenario %s on real KVM: %.1f ms%s, TSC %.3f GHz, %d host CPUs\n\n", sc->name,
	       res->elapsed_ms, res->stopped_at_max ? " (stopped at stop.max_ms)" : "",
	       res->tsc_khz / 1e6, spec->ncpus);
	printf("%-12s %5s %-9s %13s %9s %9s %9s %9s %10s %10s %9s %9s\n", "vm", "vcpus", "workload",
	       "completion_ms", "cpu_ms", "work_ms", "spin_ms", "stolen_ms", "acquires", "long_waits",
	       "long_hold", "late_hand");
	for (int i = 0; i < spec->nvms; i++) {
		struct vm_sum s;
		sum_vm(&res->vms[i], spec->vms[i].nvcpus, &s);
		char comp[32];
		if (res->vms[i].finished)
			snprintf(comp, sizeof comp, "%.1f", res->vms[i].completion_ms);
		else
			snprintf(comp, sizeof comp, "%s", spec->vms[i].finite ? "unfinished" : "-");
		printf("%-12s %5d %-9s %13s %9.1f %9.1f %9.1f %9.1f %10llu %10llu %9llu %9llu\n",
		       spec->vms[i].name, spec->vms[i].nvcpus, sc->vms[i].wk->name, comp, s.cpu_ms,
		       cyc_ms(s.g.work_cycles, res->tsc_khz),
		       cyc_ms(s.g.lock_spin_cycles + s.g.barrier_spin_cycles, res->tsc_khz),
		       cyc_ms(s.g.stolen_cycles, res->tsc_khz), (unsigned long long)s.g.acquisitions,
		       (unsigned long long)s.g.long_waits, (unsigned long long)s.g.long_holds,
		       (unsigned long long)s.g.late_handoffs);
	}
	for (int k = 0; k < spec->nhogs; k++)
		printf("%-12s %5d %-9s %13s %9.1f\n", o->hogs[k].name, 1, "host_hog", "-",
		       res->hogs[k].cpu_ms);
}

static volatile pid_t run_child;

static void forward_signal(int sig)
{
	if (run_child > 0)
		kill(run_child, sig);
}

/* --nice: the run goes on in a child in a new session, whose scheduler autogroup
 * (Linux with CONFIG_SCHED_AUTOGROUP: every session's tasks share one group, and
 * nice acts only inside it) gets nice N too. Returns -1 in the child (carry on),
 * else the child's exit code. */
static int run_in_own_session(int nice)
{
	fflush(NULL);
	pid_t pid = fork();
	if (pid < 0) {
		fprintf(stderr, "vcpusim kvm: fork: %s\n", strerror(errno));
		return 1;
	}
	if (pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGTERM);   /* a killed parent takes the run with it */
		setsid();
		FILE *f = fopen("/proc/self/autogroup", "w");
		if (f) {
			fprintf(f, "%d", nice);
			fclose(f);
		}
		if (setpriority(PRIO_PROCESS, 0, nice) < 0)
			fprintf(stderr, "vcpusim kvm: note: --nice %d: %s\n", nice, strerror(errno));
		return -1;
	}
	run_child = pid;
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = forward_signal;
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	int st;
	while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
		;
	if (WIFEXITED(st))
		return WEXITSTATUS(st);
	fprintf(stderr, "vcpusim kvm: the run was killed by signal %d\n", WTERMSIG(st));
	return 1;
}

static double wall_clock(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

int cmd_kvm(int argc, char **argv)
{
	const char *file = NULL, *out = NULL, *simout = NULL, *trace = NULL;
	double noise_think = 0, noise_service = 0;
	char **sets = calloc((size_t)argc + 1, sizeof *sets);
	int nsets = 0, probe = 0, nice = 0;
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		int has_next = i + 1 < argc;
		if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
			fputs(kvm_help, stdout);
			free(sets);
			return 0;
		} else if (!strcmp(a, "--set") && has_next) {
			sets[nsets++] = argv[++i];
		} else if (!strncmp(a, "--set=", 6)) {
			sets[nsets++] = argv[i] + 6;
		} else if (!strcmp(a, "-o") && has_next) {
			out = argv[++i];
		} else if (!strcmp(a, "--trace") && has_next) {
			trace = argv[++i];
		} else if (!strcmp(a, "--sim-noise") && has_next) {
			char extra;
			if (sscanf(argv[++i], "%lf:%lf%c", &noise_think, &noise_service, &extra) != 2 ||
			    !(noise_think > 0 && noise_think <= 1e9) || !(noise_service > 0 && noise_service <= 1e9)) {
				fprintf(stderr, "vcpusim kvm: --sim-noise: expected THINK_US:SERVICE_US, two numbers > 0, got '%s'\n",
					argv[i]);
				free(sets);
				return 2;
			}
		} else if (!strcmp(a, "--sim-scenario") && has_next) {
			simout = argv[++i];
		} else if (!strcmp(a, "--nice") && has_next) {
			char *end;
			long n = strtol(argv[++i], &end, 10);
			if (*end || n < -20 || n > 19) {
				fprintf(stderr, "vcpusim kvm: --nice: expected an integer in [-20, 19], got '%s'\n",
					argv[i]);
				free(sets);
				return 2;
			}
			nice = (int)n;
		} else if (!strcmp(a, "--probe")) {
			probe = 1;
		} else if (!strcmp(a, "--quiet")) {
			/* accepted for symmetry with run */
		} else if (a[0] == '-' && a[1]) {
			fprintf(stderr, "vcpusim kvm: %s: unknown option or missing value\n%s", a, kvm_help);
			free(sets);
			return 2;
		} else if (!file) {
			file = a;
		} else {
			fprintf(stderr, "vcpusim kvm: unexpected argument '%s'\n%s", a, kvm_help);
			free(sets);
			return 2;
		}
	}
	char why[512];
	if (probe) {
		free(sets);
		if (kvm_probe(why, sizeof why) < 0) {
			fprintf(stderr, "vcpusim kvm: KVM is not usable here: %s\n", why);
			return 1;
		}
		printf("KVM is usable here\n");
		return 0;
	}
	if (!file) {
		free(sets);
		fprintf(stderr, "vcpusim kvm: which scenario?\n%s", kvm_help);
		return 2;
	}
	const char *outs[3] = { out, trace, simout };
	for (int a = 0; a < 3; a++) {
		if (outs[a] && !*outs[a]) {
			free(sets);
			fprintf(stderr, "vcpusim kvm: an output file name is empty\n");
			return 2;
		}
		const char *clash = same_file(outs[a], file) ? file : NULL;
		for (int b = a + 1; b < 3 && !clash; b++)
			clash = same_file(outs[a], outs[b]) || both_stdout(outs[a], outs[b]) ? outs[b]
											      : NULL;
		if (clash) {
			free(sets);
			return refuse_same("kvm", outs[a], clash);
		}
	}
	struct jp jp;
	jp_init(&jp, file);
	cJSON *root = jp_load_file(&jp, file);
	for (int i = 0; root && i < nsets; i++)
		if (jp_set_path(&jp, root, sets[i]) < 0) {
			cJSON_Delete(root);
			root = NULL;
		}
	free(sets);
	struct scenario *sc = root ? scenario_from_json(&jp, root) : NULL;
	if (sc)
		sc->effective = cJSON_Duplicate(root, 1);   /* provenance in the results */
	struct kvm_opts o;
	memset(&o, 0, sizeof o);
	if (sc)
		parse_kvm_section(&jp, root, sc->npcpus, &o);
	if (!sc || jp.failed) {
		fprintf(stderr, "%s\n", jp.msg);
		free_opts(&o);
		scenario_free(sc);
		cJSON_Delete(root);
		return 2;
	}
	if (simout) {
		int rc = write_sim_scenario(&jp, root, &o, simout, sc->npcpus, noise_think, noise_service,
					    sc->profile->source);
		free_opts(&o);
		scenario_free(sc);
		cJSON_Delete(root);
		return rc;
	}
	if (check_runnable(&jp, root, sc) < 0) {
		fprintf(stderr, "%s\n", jp.msg);
		free_opts(&o);
		scenario_free(sc);
		cJSON_Delete(root);
		return 2;
	}
	if (kvm_probe(why, sizeof why) < 0) {
		fprintf(stderr, "vcpusim kvm: KVM is not usable here: %s\n", why);
		free_opts(&o);
		scenario_free(sc);
		cJSON_Delete(root);
		return 1;
	}

	struct kvm_run_spec spec;
	memset(&spec, 0, sizeof spec);
	spec.ncpus = sc->npcpus;
	spec.nvms = sc->nvms;
	spec.vms = calloc((size_t)sc->nvms, sizeof *spec.vms);
	spec.nhogs = o.nhogs;
	spec.hogs = o.hogs;
	spec.max_ms = (double)sc->max_ns / 1e6;
	spec.gap_ns = o.gap_us * 1e3;
	spec.ghz = sc->ghz;
	spec.nice = nice;
	for (int i = 0; i < sc->nvms; i++) {
		const struct vm_config *v = &sc->vms[i];
		struct kvm_vm_spec *k = &spec.vms[i];
		k->name = v->name;
		k->nvcpus = v->vcpus;
		k->affinity = v->affinity;
		k->params.lock_kind = sc->guest.lock_kind == LOCK_TAS ? KG_TAS : KG_TICKET;
		k->params.long_wait_cycles = (uint64_t)sc->guest.long_wait_cycles;
		k->params.seed = sc->seed * 0x9e3779b97f4a7c15ull + (uint64_t)i;
		if (!strcmp(v->wk->name, "bsp")) {
			struct bsp_desc d;
			bsp_describe(v->wp, &d);
			k->finite = 1;
			k->params.kind = KG_BSP;
			k->params.iterations = (uint64_t)d.iterations;
			k->params.imbalance_q16 = (uint32_t)(d.imbalance * 65536 + 0.5);
			k->params.locks_per_phase = (uint32_t)d.locks_per_phase;
			k->params.nlocks = (uint32_t)d.nlocks;
			k->params.barrier = (uint32_t)d.barrier;
			k->grain_ns = (double)d.grain_ns;
			k->cs_ns = (double)d.cs_ns;
			/* spin counts beyond an hour of spinning: spin forever */
			k->barrier_spin_ns = sc->guest.barrier_spin_ns > 3600 * NS_PER_SEC
				? -1 : (double)sc->guest.barrier_spin_ns;
		} else {
			k->params.kind = KG_CPU_BOUND;
		}
	}
	if (nice) {
		int crc = run_in_own_session(nice);
		if (crc >= 0) {
			free(spec.vms);
			free_opts(&o);
			scenario_free(sc);
			cJSON_Delete(root);
			return crc;
		}
	}
	struct kvm_run_result res;
	double t0 = wall_clock();
	int rc = kvm_run_all(&spec, &res, why, sizeof why);
	double wall = wall_clock() - t0;
	if (rc < 0) {
		fprintf(stderr, "vcpusim kvm: %s: %s\n", file, why);
		rc = 1;
	} else if (trace && write_trace(trace, &spec, &res) < 0) {
		fprintf(stderr, "vcpusim kvm: %s: cannot write: %s\n", trace, strerror(errno));
		rc = 1;
	}
	if (rc != 0) {
		/* nothing more */
	} else if (out) {
		cJSON *r = results_json(sc, &spec, &res, &o, wall);
		char *text = cJSON_Print(r);
		size_t len = strlen(text);
		text = realloc(text, len + 2);
		text[len] = '\n';
		if (write_file_atomic(out, text, len + 1) < 0) {
			fprintf(stderr, "vcpusim: %s: cannot write: %s\n", out, strerror(errno));
			rc = 1;
		}
		free(text);
		cJSON_Delete(r);
	} else {
		print_summary(sc, &spec, &res, &o);
	}
	if (rc == 0 || res.vms)
		kvm_result_free(&res);
	free(spec.vms);
	free_opts(&o);
	scenario_free(sc);
	cJSON_Delete(root);
	return rc;
}
