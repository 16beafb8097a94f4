/* calibrate.c: `vcpusim calibrate`: measures this host and writes a host profile
 * (docs/host-profile.md) that a scenario names with "host": {"profile": FILE}.
 *
 * The simulated host is only as irregular as the real one it describes; these are the
 * measurements that make it so:
 *  - host activity, by a "selfish detour" loop (Beckman et al., "The influence of
 *    operating systems on the performance of collective operations at extreme scale",
 *    Cluster 2006; netgauge's noise benchmark): one thread pinned to every CPU at
 *    once reads the TSC in a tight loop, and every step longer than a threshold is
 *    time the CPU did something else. A step during which the thread was context
 *    switched out (getrusage(RUSAGE_THREAD).ru_nivcsw moved) was another task (a
 *    kernel thread, a daemon): class "task", after which the host scheduler picks
 *    again; the others were interrupts, the tick, or the hypervisor below this host
 *    taking the CPU: class "irq", after which the same thread resumes. Per class: rate,
 *    and the quantiles of the gap lengths and of the times between gaps;
 *  - the cost of one spin-wait iteration, a load and a PAUSE (cpu_relax() in libgomp's
 *    config/linux/wait.h do_spin and in Linux's spinlocks): the minimum over
 *    repetitions of a long loop, in ns;
 *  - cross-CPU wake-to-run latency: a thread blocked in futex_wait on one CPU, woken
 *    by a thread on another (what a halted vCPU's wake-up IPI costs, the model's
 *    guest.ipi_ns);
 *  - a TLB shootdown: mprotect of a page that a second thread, pinned to another CPU,
 *    keeps reading (so the mm is active there and Linux must flush it: arch/x86/mm/
 *    tlb.c flush_tlb_mm_range -> native_flush_tlb_multi, Linux 6.1) against the same
 *    call with that thread gone (its CPU idle, lazy: no IPI). The reader's own loop
 *    reads the TSC: the gap in it during each call is what the flush IPI took from
 *    it (interrupt entry, flush_tlb_func, exit: the model's guest.tlb_flush_ns, the
 *    profile's tlb_flush_ns); the difference of the medians of the two mprotect
 *    times is the initiator's extra wait (informational, tlb_shootdown_ns). Per
 *    call, that extra time (the call's time minus the median call with no other
 *    CPU in the mm) less the handler's gap in it is what remains of the round
 *    trip: sending the IPI, its delivery to a RUNNING target and the
 *    acknowledgement reaching the initiator (kernel/smp.c
 *    smp_call_function_many_cond -> csd_lock_wait). Its median is the profile's
 *    tlb_ipi_ns (the model's guest.tlb_ipi_ns), its distribution
 *    tlb_ipi_delivery_ns. (ipi_ns above is the wake-up of a SLEEPING thread:
 *    the idle exit and the scheduler are in it, not in this.)
 *  - timer lateness: how late an absolute-deadline hrtimer (timer slack 1 ns) wakes a
 *    thread on an idle CPU: the lateness the model gives a hypervisor's timers;
 *  - the scheduler tick (CONFIG_HZ, and LOC interrupts per second on a busy CPU) and
 *    the TSC's rate against CLOCK_MONOTONIC_RAW;
 *  - a vCPU switch, where /dev/kvm is usable: two vCPU threads of one small VM
 *    (kvm/monitor.c, the guest computing and reading the TSC) pinned to each CPU
 *    (up to 16), for 1 s, so that the host's scheduler alternates them at its
 *    ticks on every CPU at once. When one vCPU's guest
 *    stops and the other's resumes within that gap, the time between is what a
 *    switch between vCPU threads costs on this host: the outgoing thread's exit from
 *    its guest, schedule(), the incoming one's entry (virt/kvm/kvm_main.c
 *    kvm_sched_out / kvm_sched_in, and the architecture's world switch). The model
 *    gives it to the kvm policy's switches into a VM's vCPU (vcpu_switch_ns).
 * It reports how stable each figure was across repetitions and CPUs. Measure on a
 * quiet machine: the load average is recorded and a warning printed above 0.5. */
#define _GNU_SOURCE
#include <cjson/cJSON.h>
#include <errno.h>
#include <linux/futex.h>
#include <math.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>
#include "kvm/monitor.h"
#include "sim/cli.h"


static inline uint64_t rdtsc(void)
{
	uint32_t lo, hi;
	__asm__ volatile("rdtsc" : "=a"(lo), "=d"(hi));
	return ((uint64_t)hi << 32) | lo;
}

static double mono_raw(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC_RAW, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static int pin(int cpu)
{
	cpu_set_t set;
	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	return pthread_setaffinity_np(pthread_self(), sizeof set, &set);
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

/* The distribution of v[0..n) (ns; sorted in place) as the profile stores it:
 * {"p50", "p90", "p99", "max", "hist": [[lo, hi, count], ...]} with 8 log2 bins per
 * octave (each about 9% wide), empty bins left out. The simulator draws from the
 * histogram (docs/host-profile.md); the percentiles are for people. */
static cJSON *distribution(double *v, size_t n)
{
	cJSON *o = cJSON_CreateObject();
	if (n == 0) {
		cJSON_AddItemToObject(o, "hist", cJSON_CreateArray());
		return o;
	}
	qsort(v, n, sizeof *v, cmp_double);
	cJSON_AddNumberToObject(o, "p50", round(v[n / 2]));
	cJSON_AddNumberToObject(o, "p90", round(v[(size_t)(0.9 * (double)(n - 1))]));
	cJSON_AddNumberToObject(o, "p99", round(v[(size_t)(0.99 * (double)(n - 1))]));
	cJSON_AddNumberToObject(o, "max", round(v[n - 1]));
	cJSON *h = cJSON_AddArrayToObject(o, "hist");
	size_t i = 0;
	while (i < n) {
		double x = v[i] < 1 ? 1 : v[i];
		int b = (int)floor(8 * log2(x));
		double lo = pow(2, b / 8.0), hi = pow(2, (b + 1) / 8.0);
		size_t c = 0;
		while (i < n && (v[i] < 1 ? 1 : v[i]) < hi) {
			c++;
			i++;
		}
		if (c == 0) {   /* rounding at a bin edge: take the value into this bin */
			c = 1;
			i++;
		}
		cJSON *bin = cJSON_CreateArray();
		cJSON_AddItemToArray(bin, cJSON_CreateNumber(round(lo * 10) / 10));
		cJSON_AddItemToArray(bin, cJSON_CreateNumber(round(hi * 10) / 10));
		cJSON_AddItemToArray(bin, cJSON_CreateNumber((double)c));
		cJSON_AddItemToArray(h, bin);
	}
	return o;
}

static double mean_of(const double *v, size_t n)
{
	double s = 0;
	for (size_t i = 0; i < n; i++)
		s += v[i];
	return n ? s / (double)n : 0;
}

static double cv_of(const double *v, size_t n)
{
	double m = mean_of(v, n), s = 0;
	if (n < 2 || m == 0)
		return 0;
	for (size_t i = 0; i < n; i++)
		s += (v[i] - m) * (v[i] - m);
	return sqrt(s / (double)(n - 1)) / m;
}

/* ---- TSC rate */

static double measure_tsc_ghz(void)
{
	double best = 0;
	for (int r = 0; r < 3; r++) {
		double t0 = mono_raw();
		uint64_t c0 = rdtsc();
		while (mono_raw() - t0 < 0.1)
			;
		uint64_t c1 = rdtsc();
		double t1 = mono_raw();
		double ghz = (double)(c1 - c0) / ((t1 - t0) * 1e9);
		if (r == 0 || fabs(ghz - best) > 0)
			best = r == 0 ? ghz : (best + ghz) / 2;
	}
	return best;
}

/* ---- selfish detour */

struct gap { uint64_t start, len; int task; };

struct detour {
	int cpu;
	double seconds;
	uint64_t threshold;      /* TSC cycles */
	struct gap *gaps;
	size_t ngaps, cap;
	uint64_t t0, t1;
	int failed;
	atomic_int *go;
};

static void *detour_thread(void *arg)
{
	struct detour *d = arg;
	if (pin(d->cpu) != 0) {
		d->failed = 1;
		return NULL;
	}
	while (!atomic_load(d->go))
		;
	struct rusage ru;
	getrusage(RUSAGE_THREAD, &ru);
	long nivcsw = ru.ru_nivcsw, nvcsw = ru.ru_nvcsw;
	double tstart = mono_raw();
	uint64_t start = rdtsc(), last = start, checks = 0;
	for (;;) {
		uint64_t now = rdtsc();
		uint64_t dt = now - last;
		if (dt > d->threshold) {
			getrusage(RUSAGE_THREAD, &ru);
			int task = ru.ru_nivcsw != nivcsw || ru.ru_nvcsw != nvcsw;
			nivcsw = ru.ru_nivcsw;
			nvcsw = ru.ru_nvcsw;
			if (d->ngaps < d->cap)
				d->gaps[d->ngaps++] = (struct gap){ last, dt, task };
			now = rdtsc();   /* the getrusage itself is not a gap */
		}
		last = now;
		if ((++checks & 0xfff) == 0 && mono_raw() - tstart >= d->seconds)
			break;
	}
	d->t0 = start;
	d->t1 = last;
	return NULL;
}

struct class_acc {
	double *len, *iat;       /* ns */
	size_t nlen, niat, caplen, capiat;
};

static void acc_push(double **v, size_t *n, size_t *cap, double x)
{
	if (*n == *cap) {
		*cap = *cap ? *cap * 2 : 1024;
		*v = realloc(*v, *cap * sizeof **v);
		if (!*v) {
			fprintf(stderr, "vcpusim calibrate: out of memory\n");
			exit(1);
		}
	}
	(*v)[(*n)++] = x;
}

/* ---- spin iteration: a load and a PAUSE, as libgomp's do_spin */

static double measure_spin_ns(double ghz)
{
	static volatile int flag;
	const long n = 2000000;
	double best = 1e30;
	for (int r = 0; r < 7; r++) {
		uint64_t c0 = rdtsc();
		for (long i = 0; i < n; i++) {
			if (flag)
				break;
			__builtin_ia32_pause();
		}
		uint64_t c1 = rdtsc();
		double ns = (double)(c1 - c0) / ghz / (double)n;
		if (ns < best)
			best = ns;
	}
	return best;
}

/* ---- cross-CPU futex wake-to-run */

struct wake_pair {
	atomic_int word;
	atomic_uint_fast64_t stamp;
	int reps, cpu_waker, cpu_sleeper;
	double ghz;
	double *lat;
	int n;
	atomic_int ready;
};

static long futex(atomic_int *addr, int op, int val)
{
	return syscall(SYS_futex, (int *)addr, op, val, NULL, NULL, 0);
}

static void *sleeper(void *arg)
{
	struct wake_pair *w = arg;
	pin(w->cpu_sleeper);
	for (int i = 0; i < w->reps; i++) {
		atomic_store(&w->ready, 1);
		while (atomic_load(&w->word) == 0)
			futex(&w->word, FUTEX_WAIT_PRIVATE, 0);
		uint64_t now = rdtsc();
		uint64_t st = atomic_load(&w->stamp);
		w->lat[w->n++] = (double)(now - st) / w->ghz;
		atomic_store(&w->word, 0);
		atomic_store(&w->ready, 0);
	}
	return NULL;
}

static int measure_wake(int cpus, double ghz, double *lat, int reps)
{
	struct wake_pair w = { .reps = reps, .cpu_waker = 0, .cpu_sleeper = cpus > 1 ? 1 : 0,
			       .ghz = ghz, .lat = lat };
	pthread_t t;
	if (pthread_create(&t, NULL, sleeper, &w) != 0)
		return 0;
	pin(w.cpu_waker);
	struct timespec pause = { 0, 300000 };
	for (int i = 0; i < reps; i++) {
		while (!atomic_load(&w.ready))
			;
		nanosleep(&pause, NULL);   /* let the sleeper block and its CPU go idle */
		atomic_store(&w.stamp, rdtsc());
		atomic_store(&w.word, 1);
		futex(&w.word, FUTEX_WAKE_PRIVATE, 1);
		while (atomic_load(&w.word) != 0)
			;
	}
	pthread_join(t, NULL);
	return w.n;
}

/* ---- timer lateness */

static int measure_timer(double *late, int reps, int cpu)
{
	pin(cpu);
	prctl(PR_SET_TIMERSLACK, 1UL, 0, 0, 0);
	struct timespec next;
	clock_gettime(CLOCK_MONOTONIC, &next);
	int n = 0;
	for (int i = 0; i < reps; i++) {
		next.tv_nsec += 1000000;
		if (next.tv_nsec >= 1000000000) {
			next.tv_nsec -= 1000000000;
			next.tv_sec++;
		}
		while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &next, NULL) == EINTR)
			;
		struct timespec now;
		clock_gettime(CLOCK_MONOTONIC, &now);
		late[n++] = (double)(now.tv_sec - next.tv_sec) * 1e9 + (double)(now.tv_nsec - next.tv_nsec);
	}
	return n;
}

/* ---- a switch between two vCPU threads (see the top of the file) */

#define SWITCH_MAX_NS 200000.0

/* Fills sw (up to cap) with switch times in ns; returns how many, or -1 with why. */
static int measure_vcpu_switch(int ncpu, double *sw, int cap, char *why, size_t wlen)
{
	if (kvm_probe(why, wlen) != 0)
		return -1;
	/* every CPU busy, as in a run that overcommits them: vCPUs 2c and 2c+1 on CPU c */
	int nc = ncpu < KGUEST_MAX_VCPUS / 2 ? ncpu : KGUEST_MAX_VCPUS / 2;
	int aff[KGUEST_MAX_VCPUS * KGUEST_MAX_VCPUS / 2];
	memset(aff, 0, sizeof aff);
	for (int v = 0; v < 2 * nc; v++)
		aff[v * nc + v / 2] = 1;
	struct kvm_vm_spec vm;
	memset(&vm, 0, sizeof vm);
	vm.name = "switch";
	vm.nvcpus = 2 * nc;
	vm.affinity = aff;
	vm.params.kind = KG_CPU_BOUND;
	struct kvm_run_spec spec;
	memset(&spec, 0, sizeof spec);
	spec.ncpus = nc;
	spec.nvms = 1;
	spec.vms = &vm;
	spec.max_ms = 1000;
	spec.gap_ns = 20000;   /* `vcpusim kvm`'s default kvm.gap_us */
	spec.ghz = 1;
	struct kvm_run_result res;
	memset(&res, 0, sizeof res);
	if (kvm_run_all(&spec, &res, why, wlen) != 0)
		return -1;
	/* one VM: both vCPUs read the same guest TSC. A gap of vCPU a that contains
	 * the end of a gap of vCPU b (b resumed while a was out) is a switch a -> b;
	 * it cost from a's stop to b's resumption. */
	int n = 0;
	const struct kvm_vm_result *vr = &res.vms[0];
	for (int a = 0; a < 2 * nc && res.tsc_khz > 0; a++) {
		int b = a ^ 1;   /* the other vCPU on its CPU */
		uint64_t na = vr->v[a].ngaps < KGUEST_GAPLOG_N ? vr->v[a].ngaps : KGUEST_GAPLOG_N;
		uint64_t nb = vr->v[b].ngaps < KGUEST_GAPLOG_N ? vr->v[b].ngaps : KGUEST_GAPLOG_N;
		uint64_t j = 0;
		for (uint64_t i = 0; i < na && n < cap; i++) {
			const struct kguest_gap *g = &vr->gaplog[a][i];
			while (j < nb && vr->gaplog[b][j].to < g->from)
				j++;
			if (j < nb && vr->gaplog[b][j].from <= g->from && vr->gaplog[b][j].to <= g->to) {
				double ns = (double)(vr->gaplog[b][j].to - g->from) * 1e6 / res.tsc_khz;
				/* longer: another task ran between the two (about 2% of them on
				 * the reference host, 0.2-3.5 ms, after a clear gap above 160
				 * us); the task-like activity class measures those */
				if (ns < SWITCH_MAX_NS)
					sw[n++] = ns;
			}
		}
	}
	kvm_result_free(&res);
	if (n == 0)
		snprintf(why, wlen, "no switch seen in 1 s");
	return n;
}

/* ---- host facts */

/* CONFIG_HZ and CONFIG_IRQ_TIME_ACCOUNTING (*irqtime: 1 set, 0 not set, -1 no
 * config found) from the kernel's own config: /boot/config-RELEASE (Debian), or
 * /proc/config.gz through zcat (a constant command line). */
static int config_hz(int *irqtime)
{
	char path[300], line[256];
	struct utsname u;
	int hz = 0;
	*irqtime = -1;
	uname(&u);
	snprintf(path, sizeof path, "/boot/config-%s", u.release);
	FILE *f = fopen(path, "r");
	int piped = 0;
	if (!f) {
		f = popen("zcat /proc/config.gz 2>/dev/null", "r");
		piped = 1;
	}
	if (!f)
		return 0;
	while (fgets(line, sizeof line, f)) {
		if (!strncmp(line, "CONFIG_HZ=", 10))
			hz = atoi(line + 10);
		if (strstr(line, "CONFIG_IRQ_TIME_ACCOUNTING"))
			*irqtime = !strncmp(line, "CONFIG_IRQ_TIME_ACCOUNTING=y", 28);
		else if (*irqtime < 0 && !strncmp(line, "CONFIG_", 7))
			*irqtime = 0;   /* a config without the option: not set */
	}
	if (piped)
		pclose(f);
	else
		fclose(f);
	return hz;
}

static void loc_interrupts(long *per_cpu, int ncpu)
{
	FILE *f = fopen("/proc/interrupts", "r");
	char line[8192];
	for (int i = 0; i < ncpu; i++)
		per_cpu[i] = -1;
	if (!f)
		return;
	while (fgets(line, sizeof line, f)) {
		char *p = line;
		while (*p == ' ')
			p++;
		if (strncmp(p, "LOC:", 4))
			continue;
		p += 4;
		for (int i = 0; i < ncpu; i++)
			per_cpu[i] = strtol(p, &p, 10);
	}
	fclose(f);
}

static void cpu_model(char *buf, size_t n)
{
	FILE *f = fopen("/proc/cpuinfo", "r");
	char line[512];
	snprintf(buf, n, "unknown");
	if (!f)
		return;
	while (fgets(line, sizeof line, f))
		if (!strncmp(line, "model name", 10)) {
			char *c = strchr(line, ':');
			if (c) {
				c++;
				while (*c == ' ')
					c++;
				c[strcspn(c, "\n")] = 0;
				snprintf(buf, n, "%s", c);
			}
			break;
		}
	fclose(f);
}

static int hypervisor_flag(void)
{
	FILE *f = fopen("/proc/cpuinfo", "r");
	char line[4096];
	int yes = 0;
	if (!f)
		return 0;
	while (fgets(line, sizeof line, f))
		if (!strncmp(line, "flags", 5)) {
			yes = strstr(line, " hypervisor") != NULL;
			break;
		}
	fclose(f);
	return yes;
}

static void usage(FILE *f)
{
	fprintf(f, "usage: vcpusim calibrate [-o PROFILE.json] [--seconds S] [--repetitions R] [--name NAME]\n"
		   "  Measures this host (every CPU at once) and writes a host profile\n"
		   "  (docs/host-profile.md): host activity (a selfish-detour loop per CPU:\n"
		   "  rate and lengths of the gaps, split into interrupts and other tasks),\n"
		   "  the cost of a load+PAUSE spin iteration, cross-CPU futex wake-to-run\n"
		   "  latency, a TLB shootdown (the handler's time on its target and the\n"
		   "  IPI's delivery to a running target), timer lateness, the tick rate,\n"
		   "  whether the kernel charges interrupt time to tasks\n"
		   "  (CONFIG_IRQ_TIME_ACCOUNTING), the TSC rate, and where /dev/kvm is\n"
		   "  usable the cost of a switch between two vCPU threads (1 s, every CPU);\n"
		   "  prints a summary.\n"
		   "  A scenario uses it with \"host\": {\"profile\": \"PROFILE.json\"}.\n"
		   "  --seconds S      length of one detour repetition (default 2)\n"
		   "  --repetitions R  repetitions of the detour measurement (default 5)\n"
		   "  --threshold-ns T a TSC step longer than this is a gap (default 1000)\n"
		   "  --name NAME      the profile's name (default: calibrated-HOSTNAME)\n"
		   "  Measure on a quiet machine; takes about S x R + 4 seconds.\n");
}

/* ---- TLB shootdown (see the top of the file) */

struct tlb_reader {
	volatile const char *page;
	int cpu;
	atomic_int run, ready;
	uint64_t threshold;      /* TSC ticks: a longer step is a gap */
	uint64_t *gstart, *glen; /* gaps, in TSC ticks */
	size_t ngaps, cap;
	int failed;
};

static void *tlb_reader_thread(void *arg)
{
	struct tlb_reader *r = arg;
	if (pin(r->cpu) != 0) {
		r->failed = 1;
		atomic_store(&r->ready, 1);
		return NULL;
	}
	uint64_t prev = rdtsc();
	atomic_store(&r->ready, 1);
	while (atomic_load_explicit(&r->run, memory_order_relaxed)) {
		(void)r->page[0];   /* the mm's TLB entry stays live on this CPU */
		uint64_t t = rdtsc();
		if (t - prev > r->threshold && r->ngaps < r->cap) {
			r->gstart[r->ngaps] = prev;
			r->glen[r->ngaps++] = t - prev;
		}
		prev = t;
	}
	return NULL;
}

/* reps mprotect calls (alternately read-only and read-write: both change present
 * entries, so both flush) spaced 50 us apart; their TSC windows into win (2 per
 * call), durations in ns into dur. */
static void tlb_calls(char *page, int reps, double ghz, uint64_t *win, double *dur)
{
	for (int i = 0; i < reps; i++) {
		uint64_t t0 = rdtsc();
		mprotect(page, 4096, i % 2 ? PROT_READ | PROT_WRITE : PROT_READ);
		uint64_t t1 = rdtsc();
		if (win) {
			win[2 * i] = t0;
			win[2 * i + 1] = t1;
		}
		dur[i] = (double)(t1 - t0) / ghz;
		while ((double)(rdtsc() - t1) / ghz < 50000)
			;
	}
	mprotect(page, 4096, PROT_READ | PROT_WRITE);
}

/* Fills handler (gaps of the reader inside a call, ns) and remote (the times of
 * those calls, ns), and local (mprotect times with no other CPU in the mm, reps of
 * them); returns how many handler samples, or -1 when it cannot run here. */
static int measure_tlb(int cpus, double ghz, int reps, double *handler, double *remote,
		       double *local)
{
	if (cpus < 2)
		return -1;
	char *page = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	uint64_t *win = malloc((size_t)reps * 2 * sizeof *win);
	struct tlb_reader r = { .cpu = 1, .threshold = (uint64_t)(200 * ghz),
				.cap = (size_t)reps * 8 + 1024 };
	r.gstart = malloc(r.cap * sizeof *r.gstart);
	r.glen = malloc(r.cap * sizeof *r.glen);
	int n = -1;
	pthread_t t;
	if (page == MAP_FAILED || !win || !r.gstart || !r.glen || pin(0) != 0)
		goto out;
	page[0] = 1;
	r.page = page;
	atomic_store(&r.run, 1);
	if (pthread_create(&t, NULL, tlb_reader_thread, &r) != 0)
		goto out;
	while (!atomic_load(&r.ready))
		;
	struct timespec settle = { 0, 20000000 };
	nanosleep(&settle, NULL);   /* the reader runs, its CPU's TLB holds the page */
	tlb_calls(page, reps, ghz, win, remote);
	atomic_store(&r.run, 0);
	pthread_join(t, NULL);
	if (r.failed)
		goto out;
	nanosleep(&settle, NULL);   /* its CPU idles: lazy TLB, no flush IPI */
	tlb_calls(page, reps, ghz, NULL, local);
	/* the reader's gap inside each call (both lists are in time order): the
	 * handler runs after the send and before the acknowledgement the caller
	 * waits for, so it lies within the call. A gap that starts before the call or
	 * ends after it is something else (the reader preempted by other work: then
	 * its CPU ran another mm, and no IPI was needed). Only calls with such a gap
	 * flushed the reader's CPU: their times are the remote ones. */
	n = 0;
	size_t g = 0;
	for (int i = 0; i < reps; i++) {
		uint64_t a = win[2 * i], b = win[2 * i + 1];
		while (g < r.ngaps && r.gstart[g] < a)
			g++;
		if (g < r.ngaps && r.gstart[g] + r.glen[g] <= b) {
			remote[n] = remote[i];
			handler[n++] = (double)r.glen[g] / ghz;
		}
	}
out:
	if (page != MAP_FAILED)
		munmap(page, 4096);
	free(win);
	free(r.gstart);
	free(r.glen);
	return n;
}

static double median_of(double *v, int n)
{
	qsort(v, (size_t)n, sizeof *v, cmp_double);
	return n ? v[n / 2] : 0;
}

int cmd_calibrate(int argc, char **argv)
{
	const char *out = NULL, *name = NULL;
	double seconds = 2, threshold_ns = 1000;
	int reps = 5;
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		char *end;
		if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
			usage(stdout);
			return 0;
		} else if (!strcmp(a, "-o") && i + 1 < argc) {
			out = argv[++i];
		} else if (!strcmp(a, "--name") && i + 1 < argc) {
			name = argv[++i];
		} else if (!strcmp(a, "--seconds") && i + 1 < argc) {
			seconds = strtod(argv[++i], &end);
			if (*end || !(seconds >= 0.1 && seconds <= 600)) {
				fprintf(stderr, "vcpusim calibrate: --seconds: expected a number in [0.1, 600], got '%s'\n", argv[i]);
				return 2;
			}
		} else if (!strcmp(a, "--repetitions") && i + 1 < argc) {
			long r = strtol(argv[++i], &end, 10);
			if (*end || r < 1 || r > 100) {
				fprintf(stderr, "vcpusim calibrate: --repetitions: expected an integer in [1, 100], got '%s'\n", argv[i]);
				return 2;
			}
			reps = (int)r;
		} else if (!strcmp(a, "--threshold-ns") && i + 1 < argc) {
			threshold_ns = strtod(argv[++i], &end);
			if (*end || !(threshold_ns >= 100 && threshold_ns <= 1e6)) {
				fprintf(stderr, "vcpusim calibrate: --threshold-ns: expected a number in [100, 1e6], got '%s'\n", argv[i]);
				return 2;
			}
		} else {
			fprintf(stderr, "vcpusim calibrate: unexpected argument '%s'\n", a);
			usage(stderr);
			return 2;
		}
	}
	if (name && (!*name || strlen(name) > 64 || strpbrk(name, "\"\\\n\t"))) {
		fprintf(stderr, "vcpusim calibrate: --name: expected 1 to 64 characters without quotes or backslashes\n");
		return 2;
	}
	int ncpu = (int)sysconf(_SC_NPROCESSORS_ONLN);
	if (ncpu < 1)
		ncpu = 1;
	if (ncpu > 1024)
		ncpu = 1024;
	double load[3] = { 0, 0, 0 };
	if (getloadavg(load, 3) < 0)
		load[0] = -1;
	if (load[0] > 0.5)
		fprintf(stderr, "vcpusim calibrate: warning: load average %.2f: other work will be measured as host activity\n",
			load[0]);
	char model[256];
	cpu_model(model, sizeof model);
	struct utsname u;
	uname(&u);
	char host[128];
	if (gethostname(host, sizeof host) != 0)
		snprintf(host, sizeof host, "host");
	host[sizeof host - 1] = 0;
	for (char *c = host; *c; c++)
		if (*c == '"' || *c == '\\')
			*c = '_';
	fprintf(stderr, "vcpusim calibrate: %s, %d CPUs, Linux %s; %d x %.1f s of detour on every CPU...\n",
		model, ncpu, u.release, reps, seconds);

	double ghz = measure_tsc_ghz();
	int irqtime;
	int hz = config_hz(&irqtime);

	/* detour: every CPU at once, reps times */
	struct class_acc acc[2] = { { 0 }, { 0 } };
	double *rate_rep[2], *mean_rep[2], *frac_cpu;
	for (int k = 0; k < 2; k++) {
		rate_rep[k] = calloc((size_t)reps, sizeof(double));
		mean_rep[k] = calloc((size_t)reps, sizeof(double));
	}
	frac_cpu = calloc((size_t)ncpu, sizeof(double));
	long *loc0 = calloc((size_t)ncpu, sizeof(long)), *loc1 = calloc((size_t)ncpu, sizeof(long));
	double *loc_rate = calloc((size_t)ncpu, sizeof(double));
	for (int r = 0; r < reps; r++) {
		struct detour *d = calloc((size_t)ncpu, sizeof *d);
		pthread_t *th = calloc((size_t)ncpu, sizeof *th);
		atomic_int go = 0;
		for (int c = 0; c < ncpu; c++) {
			d[c].cpu = c;
			d[c].seconds = seconds;
			d[c].threshold = (uint64_t)(threshold_ns * ghz);
			d[c].cap = (size_t)(seconds * 200000) + 1024;
			d[c].gaps = malloc(d[c].cap * sizeof *d[c].gaps);
			d[c].go = &go;
			if (pthread_create(&th[c], NULL, detour_thread, &d[c]) != 0) {
				fprintf(stderr, "vcpusim calibrate: cannot start a thread\n");
				return 1;
			}
		}
		loc_interrupts(loc0, ncpu);
		double w0 = mono_raw();
		atomic_store(&go, 1);
		for (int c = 0; c < ncpu; c++)
			pthread_join(th[c], NULL);
		double w1 = mono_raw();
		loc_interrupts(loc1, ncpu);
		double cnt[2] = { 0, 0 }, sum[2] = { 0, 0 };
		for (int c = 0; c < ncpu; c++) {
			if (d[c].failed) {
				fprintf(stderr, "vcpusim calibrate: cannot pin a thread to CPU %d\n", c);
				return 1;
			}
			double span = (double)(d[c].t1 - d[c].t0) / ghz;
			uint64_t prev_end[2] = { d[c].t0, d[c].t0 };
			double stolen = 0;
			for (size_t i = 0; i < d[c].ngaps; i++) {
				struct gap *g = &d[c].gaps[i];
				int k = g->task;
				double len = (double)g->len / ghz;
				acc_push(&acc[k].len, &acc[k].nlen, &acc[k].caplen, len);
				acc_push(&acc[k].iat, &acc[k].niat, &acc[k].capiat,
					 (double)(g->start - prev_end[k]) / ghz);
				prev_end[k] = g->start + g->len;
				cnt[k]++;
				sum[k] += len;
				stolen += len;
			}
			frac_cpu[c] += stolen / span / reps;
			if (loc0[c] >= 0 && loc1[c] >= 0)
				loc_rate[c] += (double)(loc1[c] - loc0[c]) / (w1 - w0) / reps;
			free(d[c].gaps);
		}
		for (int k = 0; k < 2; k++) {
			rate_rep[k][r] = cnt[k] / (w1 - w0) / ncpu;
			mean_rep[k][r] = cnt[k] ? sum[k] / cnt[k] : 0;
		}
		free(d);
		free(th);
	}

	/* spin, wake, timer */
	double spin_ns = measure_spin_ns(ghz);
	int wreps = 400;
	double *wl = calloc((size_t)wreps, sizeof(double));
	int nw = measure_wake(ncpu, ghz, wl, wreps);
	int treps = 400;
	double *tl = calloc((size_t)treps, sizeof(double));
	int nt = measure_timer(tl, treps, ncpu > 1 ? 1 : 0);
	int freps = 2000;
	double *fh = calloc((size_t)freps, sizeof(double)), *fr = calloc((size_t)freps, sizeof(double)),
	       *fl = calloc((size_t)freps, sizeof(double));
	int nf = fh && fr && fl ? measure_tlb(ncpu, ghz, freps, fh, fr, fl) : -1;
	int sreps = 2000;
	double *sw = calloc((size_t)sreps, sizeof(double));
	char swhy[256] = "";
	int ns = sw ? measure_vcpu_switch(ncpu, sw, sreps, swhy, sizeof swhy) : -1;

	/* the profile */
	cJSON *root = cJSON_CreateObject();
	char pname[200];
	snprintf(pname, sizeof pname, "%s", name ? name : "");
	if (!name)
		snprintf(pname, sizeof pname, "calibrated-%s", host);
	cJSON_AddNumberToObject(root, "vcpusim_host_profile", 1);
	cJSON_AddStringToObject(root, "name", pname);
	cJSON *m = cJSON_AddObjectToObject(root, "machine");
	time_t now = time(NULL);
	char date[64];
	strftime(date, sizeof date, "%Y-%m-%dT%H:%M:%SZ", gmtime(&now));
	cJSON_AddStringToObject(m, "measured", date);
	cJSON_AddStringToObject(m, "cpu_model", model);
	cJSON_AddNumberToObject(m, "cpus", ncpu);
	cJSON_AddStringToObject(m, "kernel", u.release);
	cJSON_AddBoolToObject(m, "virtualised", hypervisor_flag());
	cJSON *la = cJSON_AddArrayToObject(m, "loadavg");
	for (int i = 0; i < 3; i++)
		cJSON_AddItemToArray(la, cJSON_CreateNumber(round(load[i] * 100) / 100));
	cJSON_AddNumberToObject(m, "detour_seconds", seconds);
	cJSON_AddNumberToObject(m, "detour_repetitions", reps);
	cJSON_AddNumberToObject(m, "threshold_ns", threshold_ns);
	cJSON_AddNumberToObject(root, "tsc_ghz", round(ghz * 1000) / 1000);
	double loc_mean = mean_of(loc_rate, (size_t)ncpu);
	cJSON_AddNumberToObject(root, "tick_hz", hz > 0 ? hz : round(loc_mean));
	if (irqtime >= 0)
		cJSON_AddBoolToObject(root, "irq_time_accounting", irqtime);
	cJSON_AddNumberToObject(root, "spin_iteration_ns", round(spin_ns * 100) / 100);
	double wmed = 0;
	if (nw > 0) {
		cJSON *q = distribution(wl, (size_t)nw);
		wmed = wl[nw / 2];
		cJSON_AddNumberToObject(root, "ipi_ns", round(wmed));
		cJSON_AddItemToObject(root, "wake_to_run_ns", q);
	}
	double fmed = 0, fextra = 0, fipi = 0;
	if (nf >= freps / 10) {   /* enough calls were seen to interrupt the reader */
		double lmed = median_of(fl, freps);
		/* per flushing call, before fr and fh are sorted: its extra time less its
		 * handler's gap is the IPI's delivery and acknowledgement (the top of the
		 * file). Below 0 when the call was quicker than the local median: 0. */
		double *fi = calloc((size_t)nf, sizeof(double));
		for (int i = 0; fi && i < nf; i++)
			fi[i] = fmax(0, fr[i] - lmed - fh[i]);
		double rmed = median_of(fr, nf);
		fextra = rmed - lmed;
		cJSON *q = distribution(fh, (size_t)nf);
		fmed = fh[nf / 2];
		cJSON_AddNumberToObject(root, "tlb_flush_ns", round(fmed));
		if (fi) {
			cJSON *qi = distribution(fi, (size_t)nf);
			fipi = fi[nf / 2];
			cJSON_AddNumberToObject(root, "tlb_ipi_ns", round(fipi));
			cJSON_AddItemToObject(root, "tlb_ipi_delivery_ns", qi);
			free(fi);
		}
		cJSON *ts = cJSON_AddObjectToObject(root, "tlb_shootdown_ns");
		cJSON_AddNumberToObject(ts, "initiator_extra_p50", round(fextra));
		cJSON_AddNumberToObject(ts, "mprotect_remote_p50", round(rmed));
		cJSON_AddNumberToObject(ts, "mprotect_local_p50", round(lmed));
		cJSON_AddNumberToObject(ts, "calls", freps);
		cJSON_AddNumberToObject(ts, "handler_samples", nf);
		cJSON_AddItemToObject(ts, "handler", q);
	} else {
		fprintf(stderr, "vcpusim calibrate: TLB shootdown not measured (%s); the profile "
			"has no tlb_flush_ns nor tlb_ipi_ns (a scenario then uses 0 and ipi_ns)\n",
			nf < 0 ? "needs 2 CPUs" : "the reader was rarely interrupted");
	}
	double tmed = 0;
	if (nt > 0) {
		cJSON *q = distribution(tl, (size_t)nt);
		tmed = tl[nt / 2];
		cJSON_AddItemToObject(root, "timer_latency_ns", q);
	}
	double smed = 0;
	if (ns > 0) {
		cJSON *q = distribution(sw, (size_t)ns);
		smed = sw[ns / 2];
		cJSON_AddItemToObject(root, "vcpu_switch_ns", q);
	} else {
		fprintf(stderr, "vcpusim calibrate: vCPU switch not measured (%s); the profile has "
			"no vcpu_switch_ns (the kvm policy's switches then cost nothing)\n", swhy);
	}
	cJSON *act = cJSON_AddObjectToObject(root, "activity");
	static const char *const cls[2] = { "irq", "task" };
	double rate_all[2], mean_all[2];
	for (int k = 0; k < 2; k++) {
		cJSON *c = cJSON_AddObjectToObject(act, cls[k]);
		rate_all[k] = mean_of(rate_rep[k], (size_t)reps);
		mean_all[k] = acc[k].nlen ? mean_of(acc[k].len, acc[k].nlen) : 0;
		cJSON_AddNumberToObject(c, "rate_hz", round(rate_all[k] * 100) / 100);
		cJSON_AddNumberToObject(c, "mean_ns", round(mean_all[k]));
		cJSON_AddNumberToObject(c, "samples", (double)acc[k].nlen);
		cJSON_AddItemToObject(c, "length_ns", distribution(acc[k].len, acc[k].nlen));
		cJSON_AddItemToObject(c, "interarrival_ns", distribution(acc[k].iat, acc[k].niat));
	}
	cJSON *st = cJSON_AddObjectToObject(root, "stability");
	for (int k = 0; k < 2; k++) {
		char key[64];
		snprintf(key, sizeof key, "%s_rate_cv_over_repetitions", cls[k]);
		cJSON_AddNumberToObject(st, key, round(cv_of(rate_rep[k], (size_t)reps) * 1000) / 1000);
		snprintf(key, sizeof key, "%s_mean_cv_over_repetitions", cls[k]);
		cJSON_AddNumberToObject(st, key, round(cv_of(mean_rep[k], (size_t)reps) * 1000) / 1000);
	}
	cJSON_AddNumberToObject(st, "stolen_fraction_cv_over_cpus",
				round(cv_of(frac_cpu, (size_t)ncpu) * 1000) / 1000);
	cJSON *pc = cJSON_AddArrayToObject(root, "per_cpu");
	for (int c = 0; c < ncpu; c++) {
		cJSON *o = cJSON_CreateObject();
		cJSON_AddNumberToObject(o, "cpu", c);
		cJSON_AddNumberToObject(o, "stolen_fraction", round(frac_cpu[c] * 1e5) / 1e5);
		cJSON_AddNumberToObject(o, "loc_interrupts_per_s", round(loc_rate[c]));
		cJSON_AddItemToArray(pc, o);
	}
	char *text = cJSON_Print(root);
	cJSON_Delete(root);
	size_t len = strlen(text);
	text = realloc(text, len + 2);
	text[len] = '\n';
	text[len + 1] = 0;
	int rc = 0;
	if (out) {
		if (write_file_atomic(out, text, len + 1) < 0) {
			fprintf(stderr, "vcpusim calibrate: %s: %s\n", out, strerror(errno));
			rc = 1;
		}
	} else {
		fputs(text, stdout);
	}
	fprintf(stderr,
		"vcpusim calibrate: TSC %.3f GHz, tick %d Hz (LOC %.0f/s per busy CPU); spin iteration %.1f ns;\n"
		"  wake-to-run across CPUs median %.1f us; timer lateness median %.1f us;\n"
		"  TLB shootdown: target's handler median %.2f us, initiator's extra wait %.2f us,\n"
		"  IPI delivery and acknowledgement (extra wait less handler) median %.2f us;\n"
		"  host activity per CPU: irq %.1f/s of mean %.1f us, task %.1f/s of mean %.1f us\n"
		"  (stolen %.3f%% of each CPU; rate CV over %d repetitions: irq %.2f, task %.2f)\n",
		ghz, hz, loc_mean, spin_ns, wmed / 1e3, tmed / 1e3, fmed / 1e3, fextra / 1e3, fipi / 1e3,
		rate_all[0], mean_all[0] / 1e3,
		rate_all[1], mean_all[1] / 1e3, 100 * mean_of(frac_cpu, (size_t)ncpu), reps,
		cv_of(rate_rep[0], (size_t)reps), cv_of(rate_rep[1], (size_t)reps));
	if (ns > 0)
		fprintf(stderr, "  switch between two vCPU threads on a CPU: median %.1f us (%d switches)\n",
			smed / 1e3, ns);
	free(sw);
	free(text);
	for (int k = 0; k < 2; k++) {
		free(acc[k].len);
		free(acc[k].iat);
		free(rate_rep[k]);
		free(mean_rep[k]);
	}
	free(frac_cpu);
	free(loc0);
	free(loc1);
	free(loc_rate);
	free(wl);
	free(tl);
	free(fh);
	free(fr);
	free(fl);
	return rc;
}
