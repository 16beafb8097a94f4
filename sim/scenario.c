/* scenario.c: reads and validates a scenario (interface.md, "Scenario JSON"; every
 * key and default is in docs/scenario.md). Bad input is reported as
 * FILE: json.path: what was expected, what was found. Unknown keys are errors. */
#include "sim/scenario.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "sim/xalloc.h"

/* Upper bounds that keep memory and time sane (docs/scenario.md, "Limits"). */
#define MAX_PCPUS 4096
#define MAX_VCPUS_TOTAL 65536
#define MAX_VMS 16384

const char *const scenario_builtin_default =
	"{\n"
	"  \"name\": \"builtin-lock-holder-preemption\",\n"
	"  \"description\": \"A 4-vCPU VM running a lock-heavy parallel program (ticket spinlocks) shares 4 pCPUs with a 4-vCPU CPU hog under Xen Credit (2x overcommit): the motivating case of ASMan.\",\n"
	"  \"seed\": 1,\n"
	"  \"stop\": {\"max_ms\": 10000},\n"
	"  \"host\": {\"pcpus\": 4, \"ghz\": 2.4},\n"
	"  \"scheduler\": {\"policy\": \"credit\"},\n"
	"  \"guest\": {\"spinlock\": \"ticket\"},\n"
	"  \"vms\": [\n"
	"    {\"name\": \"par\", \"vcpus\": 4, \"workload\": {\"kind\": \"bsp\", \"iterations\": 2000,\n"
	"      \"grain_us\": 500, \"imbalance\": 0.1, \"barrier\": false, \"locks_per_phase\": 10, \"cs_ns\": 2000}},\n"
	"    {\"name\": \"hog\", \"vcpus\": 4, \"workload\": {\"kind\": \"cpu_bound\"}}\n"
	"  ]\n"
	"}\n";

static void parse_host(struct jp *jp, const cJSON *root, struct scenario *sc)
{
	static const char *const keys[] = { "pcpus", "ghz", "sockets", "cores", "threads", "noise",
					    "profile", "activity", NULL };
	static const char *const onoff[] = { "off", "on", NULL };
	const cJSON *h = jp_obj(jp, root, "", "host", 0);
	jp_only_keys(jp, h, "host", keys);
	/* the host's measured behaviour: docs/host-profile.md */
	const char *profile = jp_str(jp, h, "host", "profile", "reference");
	sc->activity = jp_enum(jp, h, "host", "activity", onoff, 1);
	if (!jp->failed) {
		if (!*profile || strlen(profile) > 1024)
			jp_fail(jp, "host.profile", "expected \"reference\" or a host profile file name");
		else
			sc->profile = host_profile_load(jp, profile, jp->file, "host.profile");
	}
	if (jp->failed)
		return;
	int has_topo = h && (cJSON_HasObjectItem(h, "sockets") || cJSON_HasObjectItem(h, "cores") ||
			     cJSON_HasObjectItem(h, "threads"));
	sc->ghz = jp_num(jp, h, "host", "ghz", 2.4, 0.1, 100);
	sc->sockets = (int)jp_int(jp, h, "host", "sockets", 1, 1, MAX_PCPUS);
	sc->threads = (int)jp_int(jp, h, "host", "threads", 1, 1, 16);
	int pcpus_given = h && cJSON_HasObjectItem(h, "pcpus");
	sc->npcpus = (int)jp_int(jp, h, "host", "pcpus", 4, 1, MAX_PCPUS);
	if (jp->failed)
		return;
	if (!has_topo) {
		sc->cores = sc->npcpus;
		return;
	}
	int def_cores = pcpus_given ? sc->npcpus / (sc->sockets * sc->threads) : 1;
	sc->cores = (int)jp_int(jp, h, "host", "cores", def_cores < 1 ? 1 : def_cores, 1, MAX_PCPUS);
	if (jp->failed)
		return;
	int64_t product = (int64_t)sc->sockets * sc->cores * sc->threads;
	if (product > MAX_PCPUS) {
		jp_fail(jp, "host", "sockets x cores x threads = %lld exceeds %d pCPUs",
			(long long)product, MAX_PCPUS);
		return;
	}
	if (pcpus_given && product != sc->npcpus) {
		jp_fail(jp, "host.pcpus", "expected sockets x cores x threads = %lld, got %d",
			(long long)product, sc->npcpus);
		return;
	}
	sc->npcpus = (int)product;
}

static void parse_guest(struct jp *jp, const cJSON *root, struct scenario *sc)
{
	static const char *const keys[] = { "spinlock", "long_wait_cycles", "spin_iteration_cycles",
					    "barrier_spin_count", "pv_spin_count", "pmt_timeout_count", "futex_cs_ns",
					    "futex_wake_ns", "ipi_ns", "kick_ns", "monitor", "pv_tlb_flush",
					    "tlb_flush_ns", "tlb_ipi_ns", "ttwu_rq_lock", "rq_lock_cs_ns",
					    NULL };
	const cJSON *g = jp_obj(jp, root, "", "guest", 0);
	struct guest_config *gc = &sc->guest;
	jp_only_keys(jp, g, "guest", keys);
	gc->lock_kind = (enum lock_kind)jp_enum(jp, g, "guest", "spinlock", lock_kind_names, LOCK_TICKET);
	gc->long_wait_cycles = jp_int(jp, g, "guest", "long_wait_cycles", 1 << 20, 1, INT64_C(1) << 50);
	/* a spin iteration (a load and a PAUSE) and the wake-up IPI latency come from the
	 * host profile unless the scenario sets them (docs/host-profile.md) */
	double it_def = sc->profile ? sc->profile->spin_iteration_ns * sc->ghz : 10;
	double it = jp_num(jp, g, "guest", "spin_iteration_cycles", it_def, 0.01, 1e6);
	int64_t bar = jp_int(jp, g, "guest", "barrier_spin_count", 300000, 0, INT64_C(1) << 40);
	int64_t pv = jp_int(jp, g, "guest", "pv_spin_count", 1 << 15, 0, INT64_C(1) << 40);
	/* derived spin budgets must fit simulated time (each key in range is not
	 * enough: 2^40 x 1e6 cycles / 0.1 GHz overflows int64 ns; issue 13, item 7) */
	const double lim = 1e15;   /* ns: 11.6 days of spinning */
	if ((double)bar * it / sc->ghz > lim)
		jp_fail(jp, "guest", "barrier_spin_count x spin_iteration_cycles / host.ghz = %.3g ns, "
			"more than %.0e ns: lower guest.barrier_spin_count or spin_iteration_cycles",
			(double)bar * it / sc->ghz, lim);
	if ((double)pv * it / sc->ghz > lim)
		jp_fail(jp, "guest", "pv_spin_count x spin_iteration_cycles / host.ghz = %.3g ns, "
			"more than %.0e ns: lower guest.pv_spin_count or spin_iteration_cycles",
			(double)pv * it / sc->ghz, lim);
	gc->barrier_spin_ns = (simtime_t)((double)bar * it / sc->ghz + 0.5);
	gc->pv_spin_cycles = (int64_t)((double)pv * it + 0.5);
	int64_t pmt = jp_int(jp, g, "guest", "pmt_timeout_count", 1 << 14, 0, INT64_C(1) << 40);
	/* a waiter's budget is its queue position (< MAX_VCPUS_TOTAL) times this */
	if ((double)pmt * it / sc->ghz * MAX_VCPUS_TOTAL > lim)
		jp_fail(jp, "guest", "pmt_timeout_count x spin_iteration_cycles / host.ghz x %d "
			"(queue positions) = %.3g ns, more than %.0e ns: lower guest.pmt_timeout_count "
			"or spin_iteration_cycles", MAX_VCPUS_TOTAL,
			(double)pmt * it / sc->ghz * MAX_VCPUS_TOTAL, lim);
	gc->pmt_timeout_cycles = (int64_t)((double)pmt * it + 0.5);
	gc->futex_cs_ns = jp_int(jp, g, "guest", "futex_cs_ns", 250, 0, NS_PER_SEC);
	gc->futex_wake_ns = jp_int(jp, g, "guest", "futex_wake_ns", 1000, 0, NS_PER_SEC);
	gc->ipi_ns = jp_int(jp, g, "guest", "ipi_ns",
			    sc->profile ? (int64_t)(sc->profile->ipi_ns + 0.5) : 2000, 0, NS_PER_SEC);
	gc->kick_ns = jp_int(jp, g, "guest", "kick_ns", 1000, 0, NS_PER_SEC);
	static const char *const monitors[] = { "spinlocks", "all", NULL };
	gc->monitor_user = jp_enum(jp, g, "guest", "monitor", monitors, 0);
	gc->pv_tlb_flush = jp_bool(jp, g, "guest", "pv_tlb_flush", 0);
	/* a flush IPI's handler on its target, from the host profile (models/guest.c) */
	gc->tlb_flush_ns = jp_int(jp, g, "guest", "tlb_flush_ns",
				  sc->profile ? (int64_t)(sc->profile->tlb_flush_ns + 0.5) : 0, 0,
				  NS_PER_SEC);
	/* a flush IPI's delivery to an executing target, from the host profile; a
	 * profile without it: guest.ipi_ns, the delivery every target had before */
	gc->tlb_ipi_ns = jp_int(jp, g, "guest", "tlb_ipi_ns",
				sc->profile && sc->profile->tlb_ipi_ns >= 0
				? (int64_t)(sc->profile->tlb_ipi_ns + 0.5) : gc->ipi_ns, 0, NS_PER_SEC);
	gc->ttwu_rq_lock = jp_bool(jp, g, "guest", "ttwu_rq_lock", 0);
	gc->rq_lock_cs_ns = jp_int(jp, g, "guest", "rq_lock_cs_ns", 1000, 0, NS_PER_SEC);
}

static int *parse_affinity(struct jp *jp, const cJSON *vmj, const char *path, int vcpus, int npcpus)
{
	const cJSON *a = jp_array(jp, vmj, path, "affinity", 0);
	if (!a)
		return NULL;
	char ap[JP_PATH_MAX];
	jp_join(ap, path, "affinity");
	int n = cJSON_GetArraySize(a);
	if (n == 0) {
		jp_fail(jp, ap, "expected a non-empty list of pCPU ids (or one list per vCPU)");
		return NULL;
	}
	int per_vcpu = cJSON_IsArray(cJSON_GetArrayItem(a, 0));
	if (per_vcpu && n != vcpus) {
		jp_fail(jp, ap, "expected one list of pCPU ids per vCPU (%d), got %d lists", vcpus, n);
		return NULL;
	}
	int *aff = calloc((size_t)vcpus * (size_t)npcpus, sizeof *aff);
	for (int i = 0; i < (per_vcpu ? n : 1) && !jp->failed; i++) {
		const cJSON *list = per_vcpu ? cJSON_GetArrayItem(a, i) : a;
		char lp[JP_PATH_MAX];
		if (per_vcpu)
			jp_index(lp, ap, i);
		else
			snprintf(lp, sizeof lp, "%s", ap);
		if (!cJSON_IsArray(list) || cJSON_GetArraySize(list) == 0) {
			jp_expected(jp, lp, list, "a non-empty list of pCPU ids");
			break;
		}
		const cJSON *e;
		int k = 0;
		cJSON_ArrayForEach(e, list) {
			char ep[JP_PATH_MAX];
			jp_index(ep, lp, k++);
			if (!jp_is_integer(e) || e->valuedouble < 0 || e->valuedouble >= npcpus) {
				char what[64];
				snprintf(what, sizeof what, "a pCPU id in [0, %d]", npcpus - 1);
				jp_expected(jp, ep, e, what);
				break;
			}
			int p = (int)e->valuedouble;
			for (int v = per_vcpu ? i : 0; v < (per_vcpu ? i + 1 : vcpus); v++)
				aff[v * npcpus + p] = 1;
		}
	}
	return aff;
}

static void parse_vms(struct jp *jp, const cJSON *root, struct scenario *sc)
{
	static const char *const keys[] = { "name", "vcpus", "count", "weight", "cap", "concurrent",
					    "affinity", "workload", "description", "native", "start_ms", NULL };
	const cJSON *arr = jp_array(jp, root, "", "vms", 1);
	if (!arr)
		return;
	int n = cJSON_GetArraySize(arr);
	if (n == 0) {
		jp_fail(jp, "vms", "expected at least one VM");
		return;
	}
	int64_t total_vms = 0, total_vcpus = 0;
	const cJSON *vmj;
	int i = 0;
	cJSON_ArrayForEach(vmj, arr) {
		char path[JP_PATH_MAX];
		jp_index(path, "vms", i++);
		if (!cJSON_IsObject(vmj)) {
			jp_expected(jp, path, vmj, "an object");
			return;
		}
		int count = (int)jp_int(jp, vmj, path, "count", 1, 1, MAX_VMS);
		int vcpus = (int)jp_int(jp, vmj, path, "vcpus", 1, 1, MAX_VCPUS_TOTAL);
		total_vms += count;
		total_vcpus += (int64_t)count * vcpus;
	}
	if (jp->failed)
		return;
	if (total_vms > MAX_VMS || total_vcpus > MAX_VCPUS_TOTAL) {
		jp_fail(jp, "vms", "%lld VMs with %lld vCPUs in all: more than this simulator's limits (%d VMs, %d vCPUs; docs/scenario.md)",
			(long long)total_vms, (long long)total_vcpus, MAX_VMS, MAX_VCPUS_TOTAL);
		return;
	}
	sc->vms = calloc((size_t)total_vms, sizeof *sc->vms);
	i = 0;
	cJSON_ArrayForEach(vmj, arr) {
		char path[JP_PATH_MAX], wpath[JP_PATH_MAX], name[64];
		jp_index(path, "vms", i);
		jp_only_keys(jp, vmj, path, keys);
		snprintf(name, sizeof name, "vm%d", i);
		i++;
		const char *nm = jp_str(jp, vmj, path, "name", name);
		int count = (int)jp_int(jp, vmj, path, "count", 1, 1, MAX_VMS);
		int vcpus = (int)jp_int(jp, vmj, path, "vcpus", 1, 1, MAX_VCPUS_TOTAL);
		int weight = (int)jp_int(jp, vmj, path, "weight", 256, 1, 65535);
		int cap = (int)jp_int(jp, vmj, path, "cap", 0, 0, 100 * (int64_t)vcpus);
		int concurrent = jp_bool(jp, vmj, path, "concurrent", 0);
		int native = jp_bool(jp, vmj, path, "native", 0);
		simtime_t start = (simtime_t)(jp_num(jp, vmj, path, "start_ms", 0, 0, 1e6) * NS_PER_MS);
		jp_str(jp, vmj, path, "description", "");
		if (jp->failed)
			return;
		if (!*nm || strlen(nm) > 48 || strpbrk(nm, "\",\\\n\t")) {
			jp_fail(jp, path, "name: expected 1 to 48 characters without quotes, commas or backslashes");
			return;
		}
		const cJSON *w = jp_obj(jp, vmj, path, "workload", 1);
		jp_join(wpath, path, "workload");
		const char *kind = jp_str(jp, w, wpath, "kind", NULL);
		if (jp->failed)
			return;
		if (!kind) {
			jp_fail(jp, wpath, "kind: missing (one of the kinds `vcpusim list workloads` shows)");
			return;
		}
		const struct workload_kind *wk = workload_find(kind);
		if (!wk) {
			char kp[JP_PATH_MAX];
			jp_join(kp, wpath, "kind");
			jp_fail(jp, kp, "unknown workload \"%s\" (see `vcpusim list workloads`)", kind);
			return;
		}
		struct workload_params *wp = wk->parse(jp, w, wpath, vcpus);
		if (!jp->failed && wp && workload_takes_no_time(wk, wp, vcpus))
			jp_fail(jp, wpath, "its operations take no time and wait for nothing: a run "
				"could only loop through them at one instant; give them a duration (%s)",
				workload_time_keys(kind));
		int *aff = parse_affinity(jp, vmj, path, vcpus, sc->npcpus);
		if (jp->failed) {
			if (wp)
				wk->free_params(wp);
			free(aff);
			return;
		}
		for (int r = 0; r < count; r++) {
			struct vm_config *c = &sc->vms[sc->nvms++];
			char full[64];
			if (count > 1)
				snprintf(full, sizeof full, "%s-%d", nm, r);
			else
				snprintf(full, sizeof full, "%s", nm);
			c->name = xstrdup(full);
			c->vcpus = vcpus;
			c->weight = weight;
			c->cap = cap;
			c->concurrent = concurrent;
			c->native = native;
			c->start_ns = start;
			c->index = i - 1;
			c->wk = wk;
			c->wp = wp;
			c->owns_wp = r == 0;
			if (aff) {
				c->affinity = malloc((size_t)vcpus * (size_t)sc->npcpus * sizeof *aff);
				memcpy(c->affinity, aff, (size_t)vcpus * (size_t)sc->npcpus * sizeof *aff);
			}
		}
		free(aff);
	}
	for (int a = 0; a < sc->nvms; a++)
		for (int b = a + 1; b < sc->nvms; b++)
			if (!strcmp(sc->vms[a].name, sc->vms[b].name)) {
				jp_fail(jp, "vms", "two VMs are named \"%s\" (names must be unique)",
					sc->vms[a].name);
				return;
			}
}

/* host.noise {"think_us": T, "service_us": S}: the host's own activity (dom0,
 * interrupts, daemons), as one single-vCPU VM per pCPU, pinned there, running the io
 * workload (a burst of S us after an exponential T us; named host-noise-P). Real
 * hosts have it, and it keeps pCPUs from switching in lockstep; docs/validation.md
 * measured T = 12000, S = 350 on this machine. Off by default. */
static void add_host_noise(struct jp *jp, const cJSON *root, struct scenario *sc)
{
	static const char *const keys[] = { "think_us", "service_us", NULL };
	const cJSON *h = jp_obj(jp, root, "", "host", 0);
	const cJSON *n = jp_obj(jp, h, "host", "noise", 0);
	if (!n || jp->failed)
		return;
	jp_only_keys(jp, n, "host.noise", keys);
	if (sc->nvms + sc->npcpus > MAX_VMS) {
		/* the noise VMs count against the limits like any VM */
		jp_fail(jp, "host.noise", "%d VMs and %d noise VMs (one per pCPU) exceed this simulator's limit of %d VMs; "
			"host.activity (on by default) models the host's own work without extra VMs",
			sc->nvms, sc->npcpus, MAX_VMS);
		return;
	}
	double think = jp_num(jp, n, "host.noise", "think_us", 12000, 1, 1e9);
	double service = jp_num(jp, n, "host.noise", "service_us", 350, 0.001, 1e9);
	if (jp->failed)
		return;
	cJSON *w = cJSON_CreateObject();
	cJSON_AddStringToObject(w, "kind", "io");
	cJSON_AddNumberToObject(w, "think_us", think);
	cJSON_AddNumberToObject(w, "service_us", service);
	const struct workload_kind *io = workload_find("io");
	struct workload_params *wp = io->parse(jp, w, "host.noise", 1);
	cJSON_Delete(w);
	struct vm_config *vms = realloc(sc->vms, (size_t)(sc->nvms + sc->npcpus) * sizeof *vms);
	if (!vms || jp->failed) {
		if (wp)
			io->free_params(wp);
		if (!vms)
			jp_fail(jp, "host.noise", "out of memory");
		return;
	}
	sc->vms = vms;
	for (int p = 0; p < sc->npcpus; p++) {
		struct vm_config *c = &sc->vms[sc->nvms++];
		char name[32];
		memset(c, 0, sizeof *c);
		snprintf(name, sizeof name, "host-noise-%d", p);
		for (int k = 0; k < sc->nvms - 1; k++)
			if (!strcmp(sc->vms[k].name, name)) {
				jp_fail(jp, "host.noise", "a VM is already named %s", name);
				sc->nvms--;
				if (p == 0)
					io->free_params(wp);
				return;
			}
		c->name = xstrdup(name);
		c->vcpus = 1;
		c->weight = 256;
		c->index = -1;
		c->wk = io;
		c->wp = wp;
		c->owns_wp = p == 0;
		c->affinity = xcalloc((size_t)sc->npcpus, sizeof *c->affinity);
		c->affinity[p] = 1;
	}
}

struct scenario *scenario_from_json(struct jp *jp, cJSON *root)
{
	static const char *const keys[] = { "name", "description", "seed", "stop", "host", "scheduler",
					    "guest", "vms", "check", "start_spread_ms",
					    "kvm", /* read only by `vcpusim kvm` (kvm/cmd_kvm.c); ignored here */
					    NULL };
	struct scenario *sc = calloc(1, sizeof *sc);
	sc->file = xstrdup(jp->file);
	if (!cJSON_IsObject(root)) {
		jp_expected(jp, "", root, "a JSON object (a scenario)");
		goto bad;
	}
	jp_only_keys(jp, root, "", keys);
	sc->name = xstrdup(jp_str(jp, root, "", "name", "unnamed"));
	jp_str(jp, root, "", "description", "");
	sc->seed = (uint64_t)jp_int(jp, root, "", "seed", 1, 0, INT64_C(1) << 53);
	sc->check = jp_bool(jp, root, "", "check", 0);
	static const char *const stop_keys[] = { "max_ms", NULL };
	const cJSON *stop = jp_obj(jp, root, "", "stop", 0);
	jp_only_keys(jp, stop, "stop", stop_keys);
	double max_ms = jp_num(jp, stop, "stop", "max_ms", 60000, 0.001, 1e10);
	sc->max_ns = (simtime_t)(max_ms * NS_PER_MS);
	sc->start_spread_ns = (simtime_t)(jp_num(jp, root, "", "start_spread_ms", 30, 0, 1e6) * NS_PER_MS);
	parse_host(jp, root, sc);
	parse_guest(jp, root, sc);

	const cJSON *sched = jp_obj(jp, root, "", "scheduler", 0);
	const char *policy = jp_str(jp, sched, "scheduler", "policy", "credit");
	if (jp->failed)
		goto bad;
	sc->policy = sched_find(policy);
	if (!sc->policy) {
		jp_fail(jp, "scheduler.policy", "unknown policy \"%s\" (see `vcpusim list policies`)", policy);
		goto bad;
	}
	static const cJSON empty = { .type = cJSON_Object };
	sc->policy_params = sc->policy->parse(jp, sched ? sched : &empty, "scheduler");
	if (jp->failed)
		goto bad;
	parse_vms(jp, root, sc);
	add_host_noise(jp, root, sc);
	if (jp->failed)
		goto bad;
	if (sc->policy->validate)
		sc->policy->validate(jp, sc, sc->policy_params);
	if (jp->failed)
		goto bad;
	return sc;
bad:
	scenario_free(sc);
	return NULL;
}

struct scenario *scenario_load(struct jp *jp, const char *file, char *const *sets, int nsets)
{
	cJSON *root;
	if (file) {
		root = jp_load_file(jp, file);
	} else {
		jp->file = "(built-in scenario)";
		root = cJSON_Parse(scenario_builtin_default);
	}
	if (!root)
		return NULL;
	for (int i = 0; i < nsets; i++)
		if (jp_set_path(jp, root, sets[i]) < 0) {
			cJSON_Delete(root);
			return NULL;
		}
	struct scenario *sc = scenario_from_json(jp, root);
	if (sc)
		sc->effective = root;   /* recorded in the results (sim/provenance.c) */
	else
		cJSON_Delete(root);
	return sc;
}

void scenario_free(struct scenario *sc)
{
	if (!sc)
		return;
	for (int i = 0; i < sc->nvms; i++) {
		struct vm_config *c = &sc->vms[i];
		if (c->owns_wp && c->wp)
			c->wk->free_params(c->wp);
		free(c->name);
		free(c->affinity);
	}
	free(sc->vms);
	host_profile_free(sc->profile);
	if (sc->policy && sc->policy->free_params && sc->policy_params)
		sc->policy->free_params(sc->policy_params);
	free(sc->name);
	free(sc->file);
	cJSON_Delete(sc->effective);
	free(sc);
}
