/* monitor.c: the KVM monitor behind `vcpusim kvm` (kvm/monitor.h): builds each VM
 * (one memory slot, page tables, GDT, TSS, the guest image), puts its vCPUs in
 * 64-bit ring 3, runs one pinned host thread per vCPU, starts every vCPU of every
 * VM at the same instant, and collects the guest's measurements.
 *
 * Start protocol: each vCPU first runs to the READY doorbell (touching its stack
 * and the shared page, so first-touch faults fall before the start); the threads
 * meet the main thread at a barrier; the main thread notes the common start and
 * releases the host CPU hogs; every vCPU re-enters and runs its workload; DONE
 * ends a vCPU's thread. Endless VMs (cpu_bound) and late ones are stopped by a
 * signal with kvm_run.immediate_exit set. */
#define _GNU_SOURCE
#include "kvm/monitor.h"
#include <errno.h>
#include <fcntl.h>
#include <linux/kvm.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <linux/futex.h>
#include <limits.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern const unsigned char kvm_guest_image[], kvm_guest_image_end[];

static void say(char *why, size_t len, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static void say(char *why, size_t len, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(why, len, fmt, ap);
	va_end(ap);
}

static inline uint64_t host_rdtsc(void)
{
	uint32_t lo, hi;
	__asm__ __volatile__("lfence; rdtsc" : "=a"(lo), "=d"(hi) :: "memory");
	return ((uint64_t)hi << 32) | lo;
}

static double now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec * 1e-6;
}

/* The KVM device: /dev/kvm, or $VCPUSIM_KVM_DEVICE (tests point it at a missing
 * file to check what happens on a host without KVM). */
static const char *kvm_device(void)
{
	const char *d = getenv("VCPUSIM_KVM_DEVICE");
	return d && *d ? d : "/dev/kvm";
}

int kvm_probe(char *why, size_t len)
{
	int kvm = open(kvm_device(), O_RDWR | O_CLOEXEC);
	if (kvm < 0) {
		say(why, len, "%s: %s (%s)", kvm_device(), strerror(errno),
		    errno == ENOENT ? "no KVM on this host: load kvm_intel, kvm_amd or kvm_pvm"
		    : errno == EACCES ? "add your user to the kvm group or run as root"
				      : "KVM unusable");
		return -1;
	}
	int v = ioctl(kvm, KVM_GET_API_VERSION, 0);
	if (v != KVM_API_VERSION) {
		say(why, len, "/dev/kvm: API version %d, expected %d", v, KVM_API_VERSION);
		close(kvm);
		return -1;
	}
	int vm = ioctl(kvm, KVM_CREATE_VM, 0);
	if (vm < 0) {
		say(why, len, "/dev/kvm: cannot create a VM: %s", strerror(errno));
		close(kvm);
		return -1;
	}
	int vc = ioctl(vm, KVM_CREATE_VCPU, 0);
	if (vc < 0) {
		say(why, len, "/dev/kvm: cannot create a vCPU: %s", strerror(errno));
		close(vm);
		close(kvm);
		return -1;
	}
	close(vc);
	close(vm);
	close(kvm);
	return 0;
}

/* ---- one VM */

struct mvcpu;

struct mvm {
	const struct kvm_vm_spec *spec;
	int fd;
	uint8_t *mem;
	struct kguest_shared *sh;
	struct mvcpu *vcpus;
	int ndone;
};

struct run;

struct mvcpu {
	struct mvm *vm;
	struct run *run;
	int idx, fd;
	struct kvm_run *kr;
	size_t kr_size;
	pthread_t thread;
	int started, exited;
	cpu_set_t cpus;
	struct kvm_vcpu_result *res;
	char err[256];
};

struct run {
	const struct kvm_run_spec *spec;
	int nready, go;             /* the start: vCPUs at READY, released */
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int finite_left;            /* finite VMs not done */
	int threads_left;
	volatile int stopping;
	double t0;
	int failed;
	char err[512];
};

static void setup_memory(struct mvm *m, double tsc_khz, double ghz)
{
	uint8_t *mem = m->mem;
	uint64_t *pml4 = (uint64_t *)(mem + KGUEST_PML4_GPA);
	uint64_t *pdpt = (uint64_t *)(mem + KGUEST_PDPT_GPA);
	uint64_t *pd = (uint64_t *)(mem + KGUEST_PD_GPA);
	const uint64_t P = 1, RW = 2, US = 4, PS = 0x80;
	pml4[0] = KGUEST_PDPT_GPA | P | RW | US;
	pdpt[0] = KGUEST_PD_GPA | P | RW | US;
	for (uint64_t i = 0; i < KGUEST_MAPPED_SIZE / 0x200000; i++)
		pd[i] = (i * 0x200000) | P | RW | US | PS;
	/* GDT: null, ring-0 code, ring-0 data, ring-3 code (0x1b), ring-3 data (0x23),
	 * TSS (0x28, two slots) */
	uint64_t *gdt = (uint64_t *)(mem + KGUEST_GDT_GPA);
	gdt[1] = 0x00af9b000000ffffull;
	gdt[2] = 0x00cf93000000ffffull;
	gdt[3] = 0x00affb000000ffffull;
	gdt[4] = 0x00cff3000000ffffull;
	uint64_t tss = KGUEST_TSS_GPA, lim = 0x67;
	gdt[5] = (lim & 0xffff) | ((tss & 0xffffff) << 16) | (0x8bull << 40) |
		 (((tss >> 24) & 0xff) << 56);
	gdt[6] = tss >> 32;
	size_t img = (size_t)(kvm_guest_image_end - kvm_guest_image);
	memcpy(mem + KGUEST_CODE_GPA, kvm_guest_image, img);

	struct kguest_params p = m->spec->params;
	double cyc_per_ns = tsc_khz / 1e6;
	p.nvcpus = (uint32_t)m->spec->nvcpus;
	p.grain_cycles = (uint64_t)(m->spec->grain_ns * cyc_per_ns + 0.5);
	p.cs_cycles = (uint64_t)(m->spec->cs_ns * cyc_per_ns + 0.5);
	p.chunk_cycles = (uint64_t)(1e6 * cyc_per_ns);   /* 1 ms */
	p.barrier_spin_cycles = m->spec->barrier_spin_ns < 0 ? UINT64_MAX
				: (uint64_t)(m->spec->barrier_spin_ns * cyc_per_ns + 0.5);
	p.scale_q32 = (uint64_t)(ghz / cyc_per_ns * 4294967296.0);
	m->sh = (struct kguest_shared *)(mem + KGUEST_SHARED_GPA);
	m->sh->p = p;
}

static void seg(struct kvm_segment *s, uint16_t sel, uint8_t type, int code)
{
	memset(s, 0, sizeof *s);
	s->base = 0;
	s->limit = 0xffffffff;
	s->selector = sel;
	s->type = type;
	s->present = 1;
	s->dpl = 3;
	s->s = 1;
	s->g = 1;
	s->l = code;
	s->db = !code;
}

static int setup_vcpu(struct mvcpu *c, int kvm, char *why, size_t len)
{
	c->fd = ioctl(c->vm->fd, KVM_CREATE_VCPU, c->idx);
	if (c->fd < 0) {
		say(why, len, "KVM_CREATE_VCPU: %s", strerror(errno));
		return -1;
	}
	int sz = ioctl(kvm, KVM_GET_VCPU_MMAP_SIZE, 0);
	if (sz <= 0) {
		say(why, len, "KVM_GET_VCPU_MMAP_SIZE: %s", strerror(errno));
		return -1;
	}
	c->kr_size = (size_t)sz;
	c->kr = mmap(NULL, c->kr_size, PROT_READ | PROT_WRITE, MAP_SHARED, c->fd, 0);
	if (c->kr == MAP_FAILED) {
		c->kr = NULL;
		say(why, len, "mmap kvm_run: %s", strerror(errno));
		return -1;
	}
	struct kvm_sregs sr;
	if (ioctl(c->fd, KVM_GET_SREGS, &sr) < 0) {
		say(why, len, "KVM_GET_SREGS: %s", strerror(errno));
		return -1;
	}
	seg(&sr.cs, 0x1b, 0xb, 1);
	seg(&sr.ds, 0x23, 0x3, 0);
	sr.es = sr.fs = sr.gs = sr.ss = sr.ds;
	memset(&sr.tr, 0, sizeof sr.tr);
	sr.tr.base = KGUEST_TSS_GPA;
	sr.tr.limit = 0x67;
	sr.tr.selector = 0x28;
	sr.tr.type = 0xb;
	sr.tr.present = 1;
	memset(&sr.ldt, 0, sizeof sr.ldt);
	sr.ldt.unusable = 1;
	sr.gdt.base = KGUEST_GDT_GPA;
	sr.gdt.limit = 7 * 8 - 1;
	sr.idt.base = 0;
	sr.idt.limit = 0;      /* any exception: triple fault, KVM_EXIT_SHUTDOWN */
	sr.cr0 = 0x80010033;   /* PG WP NE ET MP PE */
	sr.cr3 = KGUEST_PML4_GPA;
	sr.cr4 = 0x620;        /* OSXMMEXCPT OSFXSR PAE; TSD clear: rdtsc allowed in ring 3 */
	sr.efer = 0x500;       /* LMA LME */
	if (ioctl(c->fd, KVM_SET_SREGS, &sr) < 0) {
		say(why, len, "KVM_SET_SREGS (64-bit ring 3): %s", strerror(errno));
		return -1;
	}
	struct kvm_regs r;
	memset(&r, 0, sizeof r);
	r.rip = KGUEST_CODE_GPA;
	r.rsp = KGUEST_STACK_GPA + (uint64_t)(c->idx + 1) * KGUEST_STACK_SIZE;
	r.rdi = (uint64_t)c->idx;
	r.rflags = 0x2;
	if (ioctl(c->fd, KVM_SET_REGS, &r) < 0) {
		say(why, len, "KVM_SET_REGS: %s", strerror(errno));
		return -1;
	}
	return 0;
}

static void on_signal(int sig) { (void)sig; }

/* Reads nr_voluntary_switches, nr_involuntary_switches and se.nr_migrations of
 * the calling thread from /proc (0 where the kernel does not say). */
static void thread_sched_stats(struct kvm_vcpu_result *r)
{
	char path[64], line[256];
	snprintf(path, sizeof path, "/proc/self/task/%ld/sched", (long)syscall(SYS_gettid));
	FILE *f = fopen(path, "r");
	if (!f)
		return;
	while (fgets(line, sizeof line, f)) {
		unsigned long long v;
		char *colon = strchr(line, ':');
		if (!colon || sscanf(colon + 1, "%llu", &v) != 1)
			continue;
		if (!strncmp(line, "nr_voluntary_switches", 21))
			r->voluntary = v;
		else if (!strncmp(line, "nr_involuntary_switches", 23))
			r->involuntary = v;
		else if (!strncmp(line, "se.nr_migrations", 16))
			r->migrations = v;
	}
	fclose(f);
}

static void vcpu_finish(struct mvcpu *c, int done)
{
	struct run *run = c->run;
	struct timespec ts;
	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	c->res->cpu_ms = (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec * 1e-6;
	thread_sched_stats(c->res);
	pthread_mutex_lock(&run->mu);
	if (done) {
		c->res->done_ms = now_ms() - run->t0;
		if (++c->vm->ndone == c->vm->spec->nvcpus && c->vm->spec->finite)
			run->finite_left--;
	}
	run->threads_left--;
	c->exited = 1;
	pthread_cond_broadcast(&run->cv);
	pthread_mutex_unlock(&run->mu);
}

static void vcpu_fail(struct mvcpu *c, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static void vcpu_fail(struct mvcpu *c, const char *fmt, ...)
{
	struct run *run = c->run;
	char msg[256];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	pthread_mutex_lock(&run->mu);
	if (!run->failed) {
		run->failed = 1;
		snprintf(run->err, sizeof run->err, "VM %s vCPU %d: %s", c->vm->spec->name, c->idx, msg);
	}
	pthread_mutex_unlock(&run->mu);
}

/* Waits for the common start; returns 0 when released, -1 when the run stops. */
static int wait_start(struct run *run)
{
	pthread_mutex_lock(&run->mu);
	run->nready++;
	pthread_cond_broadcast(&run->cv);
	while (!run->go && !run->stopping)
		pthread_cond_wait(&run->cv, &run->mu);
	int go = run->go;
	pthread_mutex_unlock(&run->mu);
	return go ? 0 : -1;
}

static void *vcpu_thread(void *arg)
{
	struct mvcpu *c = arg;
	struct run *run = c->run;
	int ready = 0;
	c->res->done_ms = -1;
	if (sched_setaffinity(0, sizeof c->cpus, &c->cpus) < 0)
		vcpu_fail(c, "sched_setaffinity: %s", strerror(errno));
	if (run->spec->nice && setpriority(PRIO_PROCESS, (id_t)syscall(SYS_gettid), run->spec->nice) < 0)
		vcpu_fail(c, "setpriority(%d): %s", run->spec->nice, strerror(errno));
	for (;;) {
		if (run->stopping && ready) {
			vcpu_finish(c, 0);
			return NULL;
		}
		int r = ioctl(c->fd, KVM_RUN, 0);
		if (r < 0) {
			if (errno == EINTR || errno == EAGAIN) {
				c->kr->immediate_exit = 0;
				if (!ready && run->stopping)
					break;
				continue;
			}
			vcpu_fail(c, "KVM_RUN: %s", strerror(errno));
			break;
		}
		struct kvm_run *kr = c->kr;
		if (kr->exit_reason == KVM_EXIT_MMIO && kr->mmio.is_write &&
		    kr->mmio.phys_addr == KGUEST_DOORBELL_GPA && kr->mmio.len == 8 && ready) {
			uint64_t v;
			memcpy(&v, kr->mmio.data, 8);
			uint32_t gen = (uint32_t)(v >> 32);
			if ((uint32_t)v == KDB_SLEEP) {
				/* the vCPU halts: this thread sleeps until the generation moves */
				uint32_t *word = &c->vm->sh->bar.gen;
				while (__atomic_load_n(word, __ATOMIC_ACQUIRE) == gen && !run->stopping)
					syscall(SYS_futex, word, FUTEX_WAIT_PRIVATE, gen, NULL, NULL, 0);
				continue;
			}
		}
		if (kr->exit_reason == KVM_EXIT_MMIO && kr->mmio.is_write &&
		    kr->mmio.phys_addr == KGUEST_DOORBELL_GPA && kr->mmio.len == 4) {
			uint32_t what;
			memcpy(&what, kr->mmio.data, 4);
			if (what == KDB_WAKE && ready) {
				syscall(SYS_futex, &c->vm->sh->bar.gen, FUTEX_WAKE_PRIVATE, INT_MAX, NULL,
					NULL, 0);
				continue;
			}
			if (what == KDB_READY && !ready) {
				c->res->host_tsc_at_ready = host_rdtsc();
				ready = 1;
				if (wait_start(run) < 0) {
					vcpu_finish(c, 0);
					return NULL;
				}
				continue;
			}
			if (what == KDB_DONE && ready) {
				vcpu_finish(c, 1);
				return NULL;
			}
			vcpu_fail(c, "the guest reported failure (doorbell %u)", what);
			break;
		}
		if (kr->exit_reason == KVM_EXIT_SHUTDOWN)
			vcpu_fail(c, "the guest faulted (triple fault, KVM_EXIT_SHUTDOWN)");
		else if (kr->exit_reason == KVM_EXIT_MMIO)
			vcpu_fail(c, "unexpected guest memory access at %#llx",
				  (unsigned long long)kr->mmio.phys_addr);
		else if (kr->exit_reason == KVM_EXIT_FAIL_ENTRY)
			vcpu_fail(c, "KVM could not enter the guest (hardware reason %#llx)",
				  (unsigned long long)kr->fail_entry.hardware_entry_failure_reason);
		else if (kr->exit_reason == KVM_EXIT_INTERNAL_ERROR)
			vcpu_fail(c, "KVM internal error (suberror %u)", kr->internal.suberror);
		else
			vcpu_fail(c, "unexpected KVM exit reason %u", kr->exit_reason);
		c->res->exit_reason_bad = 1;
		break;
	}
	/* failed: count as ready so the main thread does not wait for this one */
	if (!ready) {
		pthread_mutex_lock(&run->mu);
		run->nready++;
		pthread_cond_broadcast(&run->cv);
		pthread_mutex_unlock(&run->mu);
	}
	vcpu_finish(c, 0);
	return NULL;
}

/* ---- hogs: child processes that spin until killed */

static pid_t start_hog(const cpu_set_t *cpus, int nice, int go_fd, int close_fd)
{
	pid_t pid = fork();
	if (pid != 0)
		return pid;
	close(close_fd);
	prctl(PR_SET_PDEATHSIG, SIGKILL);   /* never outlive the monitor */
	if (getppid() == 1)
		_exit(0);
	sched_setaffinity(0, sizeof *cpus, cpus);
	if (nice)
		setpriority(PRIO_PROCESS, 0, nice);
	char b;
	while (read(go_fd, &b, 1) < 0 && errno == EINTR)
		;
	volatile uint64_t n = 0;
	for (;;)
		n++;
}

static void cpus_from(cpu_set_t *set, const int *flags, int ncpus)
{
	CPU_ZERO(set);
	for (int i = 0; i < ncpus; i++)
		if (!flags || flags[i])
			CPU_SET(i, set);
}

int kvm_run_all(const struct kvm_run_spec *spec, struct kvm_run_result *res, char *why, size_t len)
{
	memset(res, 0, sizeof *res);
	res->vms = calloc((size_t)spec->nvms, sizeof *res->vms);
	res->nvms = spec->nvms;
	res->hogs = calloc((size_t)(spec->nhogs ? spec->nhogs : 1), sizeof *res->hogs);
	struct mvm *vms = calloc((size_t)spec->nvms, sizeof *vms);
	struct run run;
	memset(&run, 0, sizeof run);
	run.spec = spec;
	pthread_mutex_init(&run.mu, NULL);
	pthread_cond_init(&run.cv, NULL);
	int rc = -1, kvm = -1, nstarted = 0;
	pid_t *hogs = calloc((size_t)(spec->nhogs ? spec->nhogs : 1), sizeof *hogs);
	int go[2] = { -1, -1 };

	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGUSR1, &sa, NULL);

	kvm = open(kvm_device(), O_RDWR | O_CLOEXEC);
	if (kvm < 0) {
		say(why, len, "%s: %s", kvm_device(), strerror(errno));
		goto out;
	}
	if (ioctl(kvm, KVM_CHECK_EXTENSION, KVM_CAP_IMMEDIATE_EXIT) <= 0) {
		say(why, len, "/dev/kvm lacks KVM_CAP_IMMEDIATE_EXIT (Linux >= 4.11 needed)");
		goto out;
	}
	size_t img = (size_t)(kvm_guest_image_end - kvm_guest_image);
	if (img > KGUEST_CODE_MAX) {
		say(why, len, "guest image too large (%zu bytes)", img);
		goto out;
	}
	for (int i = 0; i < spec->nvms; i++) {
		struct mvm *m = &vms[i];
		m->spec = &spec->vms[i];
		m->fd = -1;
		if (m->spec->nvcpus > KGUEST_MAX_VCPUS) {
			say(why, len, "VM %s: %d vCPUs, the KVM runner supports at most %d",
			    m->spec->name, m->spec->nvcpus, KGUEST_MAX_VCPUS);
			goto out;
		}
	}
	for (int i = 0; i < spec->nvms; i++) {
		struct mvm *m = &vms[i];
		m->fd = ioctl(kvm, KVM_CREATE_VM, 0);
		if (m->fd < 0) {
			say(why, len, "KVM_CREATE_VM: %s", strerror(errno));
			goto out;
		}
		m->mem = mmap(NULL, KGUEST_MEM_SIZE, PROT_READ | PROT_WRITE,
			      MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
		if (m->mem == MAP_FAILED) {
			m->mem = NULL;
			say(why, len, "mmap guest memory: %s", strerror(errno));
			goto out;
		}
		m->vcpus = calloc((size_t)m->spec->nvcpus, sizeof *m->vcpus);
		for (int v = 0; v < m->spec->nvcpus; v++) {
			struct mvcpu *c = &m->vcpus[v];
			c->vm = m;
			c->run = &run;
			c->idx = v;
			c->fd = -1;
			c->res = &res->vms[i].r[v];
			cpus_from(&c->cpus, m->spec->affinity ? m->spec->affinity + v * spec->ncpus : NULL,
				  spec->ncpus);
		}
		struct kvm_userspace_memory_region reg = {
			.slot = 0, .guest_phys_addr = 0, .memory_size = KGUEST_MEM_SIZE,
			.userspace_addr = (uint64_t)(uintptr_t)m->mem,
		};
		if (ioctl(m->fd, KVM_SET_USER_MEMORY_REGION, &reg) < 0) {
			say(why, len, "KVM_SET_USER_MEMORY_REGION: %s", strerror(errno));
			goto out;
		}
		for (int v = 0; v < m->spec->nvcpus; v++)
			if (setup_vcpu(&m->vcpus[v], kvm, why, len) < 0)
				goto out;
		if (i == 0) {
			int khz = ioctl(m->vcpus[0].fd, KVM_GET_TSC_KHZ, 0);
			if (khz <= 0) {
				say(why, len, "KVM_GET_TSC_KHZ: %s", strerror(errno));
				goto out;
			}
			res->tsc_khz = khz;
		}
		setup_memory(m, res->tsc_khz, spec->ghz);
		if (m->spec->params.kind == KG_BSP && m->spec->params.nlocks > KGUEST_MAX_LOCKS) {
			say(why, len, "VM %s: %u locks, the KVM runner supports at most %d",
			    m->spec->name, m->spec->params.nlocks, KGUEST_MAX_LOCKS);
			goto out;
		}
		m->sh->p.gap_cycles = (uint64_t)(spec->gap_ns * res->tsc_khz / 1e6);
		if (m->spec->finite)
			run.finite_left++;
	}

	/* hogs wait on a pipe until the common start */
	if (spec->nhogs && pipe(go) < 0) {
		say(why, len, "pipe: %s", strerror(errno));
		goto out;
	}
	for (int h = 0; h < spec->nhogs; h++) {
		cpu_set_t set;
		cpus_from(&set, spec->hogs[h].affinity, spec->ncpus);
		hogs[h] = start_hog(&set, spec->nice, go[0], go[1]);
		if (hogs[h] < 0) {
			say(why, len, "fork: %s", strerror(errno));
			goto out;
		}
	}

	for (int i = 0; i < spec->nvms; i++)
		for (int v = 0; v < vms[i].spec->nvcpus; v++) {
			struct mvcpu *c = &vms[i].vcpus[v];
			pthread_mutex_lock(&run.mu);
			run.threads_left++;
			pthread_mutex_unlock(&run.mu);
			if (pthread_create(&c->thread, NULL, vcpu_thread, c) != 0) {
				say(why, len, "pthread_create: %s", strerror(errno));
				goto out;
			}
			c->started = 1;
			nstarted++;
		}
	/* every vCPU at READY (or failed): start them all at once */
	pthread_mutex_lock(&run.mu);
	while (run.nready < nstarted)
		pthread_cond_wait(&run.cv, &run.mu);
	run.t0 = now_ms();
	res->t0_tsc = host_rdtsc();
	run.go = !run.failed;
	pthread_cond_broadcast(&run.cv);
	pthread_mutex_unlock(&run.mu);
	if (go[1] >= 0) {
		close(go[1]);
		go[1] = -1;
	}

	/* wait for the finite VMs, or max_ms, or a failure */
	pthread_mutex_lock(&run.mu);
	double deadline = run.t0 + spec->max_ms;
	int any_finite = run.finite_left > 0;   /* none: run to max_ms */
	while (!run.failed && run.threads_left > 0 && (run.finite_left > 0 || !any_finite)) {
		double left = deadline - now_ms();
		if (left <= 0) {
			res->stopped_at_max = 1;
			break;
		}
		struct timespec ts;
		clock_gettime(CLOCK_REALTIME, &ts);
		double wait = left < 50 ? left : 50;
		ts.tv_nsec += (long)(wait * 1e6);
		ts.tv_sec += ts.tv_nsec / 1000000000L;
		ts.tv_nsec %= 1000000000L;
		pthread_cond_timedwait(&run.cv, &run.mu, &ts);
	}
	res->elapsed_ms = now_ms() - run.t0;
	run.stopping = 1;
	pthread_cond_broadcast(&run.cv);
	pthread_mutex_unlock(&run.mu);
	for (int h = 0; h < spec->nhogs; h++)
		if (hogs[h] > 0)
			kill(hogs[h], SIGKILL);
	for (int i = 0; i < spec->nvms; i++)
		for (int v = 0; v < vms[i].spec->nvcpus; v++) {
			struct mvcpu *c = &vms[i].vcpus[v];
			if (!c->started)
				continue;
			/* kick until the thread has left KVM_RUN for good */
			for (;;) {
				pthread_mutex_lock(&run.mu);
				int gone = c->exited;
				pthread_mutex_unlock(&run.mu);
				if (gone)
					break;
				c->kr->immediate_exit = 1;
				pthread_kill(c->thread, SIGUSR1);
				struct timespec ts = { 0, 1000000 };
				nanosleep(&ts, NULL);
			}
			pthread_join(c->thread, NULL);
			c->started = 0;
		}
	if (run.failed) {
		say(why, len, "%s", run.err);
		goto out;
	}
	for (int i = 0; i < spec->nvms; i++) {
		struct kvm_vm_result *vr = &res->vms[i];
		memcpy(vr->v, vms[i].sh->v, sizeof vr->v);
		for (int v = 0; v < vms[i].spec->nvcpus; v++) {
			uint64_t n = vr->v[v].ngaps < KGUEST_GAPLOG_N ? vr->v[v].ngaps : KGUEST_GAPLOG_N;
			vr->gaplog[v] = malloc((n ? n : 1) * sizeof(struct kguest_gap));
			memcpy(vr->gaplog[v], vms[i].mem + KGUEST_GAPLOG_GPA + (size_t)v * KGUEST_GAPLOG_SIZE,
			       n * sizeof(struct kguest_gap));
		}
		vr->finished = vms[i].spec->finite && vms[i].ndone == vms[i].spec->nvcpus;
		vr->completion_ms = -1;
		if (vr->finished)
			for (int v = 0; v < vms[i].spec->nvcpus; v++)
				if (vr->r[v].done_ms > vr->completion_ms)
					vr->completion_ms = vr->r[v].done_ms;
	}
	rc = 0;
out:
	pthread_mutex_lock(&run.mu);
	run.stopping = 1;
	pthread_cond_broadcast(&run.cv);
	pthread_mutex_unlock(&run.mu);
	for (int h = 0; h < spec->nhogs; h++) {
		if (hogs[h] <= 0)
			continue;
		kill(hogs[h], SIGKILL);
		struct rusage ru;
		int st;
		if (wait4(hogs[h], &st, 0, &ru) > 0)
			res->hogs[h].cpu_ms = (double)ru.ru_utime.tv_sec * 1e3 + ru.ru_utime.tv_usec / 1e3 +
					      (double)ru.ru_stime.tv_sec * 1e3 + ru.ru_stime.tv_usec / 1e3;
	}
	if (go[0] >= 0)
		close(go[0]);
	if (go[1] >= 0)
		close(go[1]);
	for (int i = 0; i < spec->nvms; i++) {
		struct mvm *m = &vms[i];
		for (int v = 0; m->vcpus && v < m->spec->nvcpus; v++) {
			struct mvcpu *c = &m->vcpus[v];
			if (c->started) {
				c->kr->immediate_exit = 1;
				pthread_kill(c->thread, SIGUSR1);
				pthread_join(c->thread, NULL);
			}
			if (c->kr)
				munmap(c->kr, c->kr_size);
			if (c->fd >= 0)
				close(c->fd);
		}
		free(m->vcpus);
		if (m->fd >= 0)
			close(m->fd);
		if (m->mem)
			munmap(m->mem, KGUEST_MEM_SIZE);
	}
	if (kvm >= 0)
		close(kvm);
	free(hogs);
	free(vms);
	if (rc < 0)
		kvm_result_free(res);
	return rc;
}

void kvm_result_free(struct kvm_run_result *res)
{
	for (int i = 0; res->vms && i < res->nvms; i++)
		for (int v = 0; v < KGUEST_MAX_VCPUS; v++)
			free(res->vms[i].gaplog[v]);
	free(res->vms);
	free(res->hogs);
	res->vms = NULL;
	res->hogs = NULL;
}
