/* trace_cmd.c: the `vcpusim trace` (info, convert) and `vcpusim capture` commands
 * (docs/traces.md). Exit codes as everywhere (interface.md): 0 success, 2 bad input
 * (unreadable trace, bad arguments, a program that cannot be run), 1 other failure. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <cjson/cJSON.h>
#include "sim/cli.h"
#include "traces/replay.h"

#define CAPTURE_LIB "libvcpusim_capture.so"

static void trace_usage(FILE *f)
{
	fprintf(f,
		"usage: vcpusim trace info FILE [--json]\n"
		"       vcpusim trace convert FILE -o OUT\n\n"
		"info: threads, duration, event counts by kind, compute fraction and the mean\n"
		"interval between synchronisation points of a trace (--json: as JSON).\n"
		"convert: writes FILE (a vcpusim trace or an OTF2 anchor *.otf2) as a vcpusim\n"
		"trace. FILE - reads standard input, -o - writes standard output.\n"
		"Formats: traces/FORMAT.md; capture: `vcpusim capture --help`.\n");
}

static void print_ns(const char *label, double ns)
{
	if (ns >= 1e9)
		printf("%s%.3f s\n", label, ns / 1e9);
	else if (ns >= 1e6)
		printf("%s%.3f ms\n", label, ns / 1e6);
	else
		printf("%s%.3f us\n", label, ns / 1e3);
}

static int trace_info_json(const struct trace *t, const struct trace_stats *st)
{
	cJSON *o = cJSON_CreateObject();
	cJSON_AddStringToObject(o, "format", t->format ? t->format : "");
	cJSON_AddNumberToObject(o, "version", t->version);
	cJSON_AddStringToObject(o, "program", t->program ? t->program : "");
	cJSON_AddStringToObject(o, "host", t->host ? t->host : "");
	cJSON_AddStringToObject(o, "clock", t->clock ? t->clock : "");
	cJSON_AddNumberToObject(o, "threads", t->nthreads);
	cJSON_AddNumberToObject(o, "duration_ms", (double)t->duration_ns / 1e6);
	cJSON_AddNumberToObject(o, "events", (double)st->events);
	cJSON *k = cJSON_AddObjectToObject(o, "events_by_kind");
	for (int i = 0; i < TEV_KINDS; i++)
		cJSON_AddNumberToObject(k, tev_kind_names[i], (double)st->by_kind[i]);
	cJSON_AddNumberToObject(o, "barriers", (double)st->barriers);
	cJSON_AddNumberToObject(o, "acquisitions", (double)st->acquisitions);
	cJSON_AddNumberToObject(o, "locks", t->nlocks);
	cJSON_AddNumberToObject(o, "compute_ms", (double)st->compute_ns / 1e6);
	cJSON_AddNumberToObject(o, "compute_fraction", st->compute_fraction);
	cJSON_AddNumberToObject(o, "mean_interval_us", st->mean_interval_ns / 1e3);
	/* calls after which the kernel may shoot down other CPUs' TLBs (version 2) */
	cJSON *f = cJSON_AddObjectToObject(o, "tlb_flushes");
	cJSON_AddNumberToObject(f, "calls", (double)st->tlb_flushes);
	cJSON_AddNumberToObject(f, "per_second", t->duration_ns ? (double)st->tlb_flushes * 1e9 /
						  (double)t->duration_ns : 0);
	for (int c = 0; c < 4; c++)
		cJSON_AddNumberToObject(f, tflush_call_names[c], (double)st->tlb_by_call[c]);
	char *s = cJSON_Print(o);
	cJSON_Delete(o);
	if (!s)
		return 1;
	puts(s);
	free(s);
	return 0;
}

static int trace_info(const char *file, int json)
{
	char err[1024];
	struct trace *t = trace_load(file, err, sizeof err);
	if (!t) {
		fprintf(stderr, "vcpusim trace: %s\n", err);
		return 2;
	}
	struct trace_stats st;
	trace_stats(t, &st);
	if (json) {
		int rc = trace_info_json(t, &st);
		trace_free(t);
		return rc;
	}
	printf("trace:        %s\n", file);
	printf("format:       %s (version %u)\n", t->format ? t->format : "?", t->version);
	printf("program:      %s\n", t->program && *t->program ? t->program : "(unknown)");
	printf("host:         %s\n", t->host && *t->host ? t->host : "(unknown)");
	printf("clock:        %s\n", t->clock ? t->clock : "?");
	printf("threads:      %d\n", t->nthreads);
	print_ns("duration:     ", (double)t->duration_ns);
	printf("events:       %llu\n", (unsigned long long)st.events);
	for (int k = 0; k < TEV_KINDS; k++)
		if (st.by_kind[k])
			printf("  %-14s %llu\n", tev_kind_names[k], (unsigned long long)st.by_kind[k]);
	uint64_t bar[TBAR_CLASSES] = { 0 }, lk[TLOCK_CLASSES] = { 0 };
	for (int i = 0; i < t->nthreads; i++)
		for (size_t k = 0; k < t->threads[i].n; k++) {
			const struct trace_event *e = &t->threads[i].ev[k];
			if (e->kind == TEV_BARRIER_ENTER && e->arg < TBAR_CLASSES)
				bar[e->arg]++;
			if (e->kind == TEV_LOCK_ACQ && e->arg < t->nlocks)
				lk[t->locks[e->arg].cls]++;
		}
	printf("barriers:     %llu waits (%llu at region ends", (unsigned long long)st.barriers,
	       (unsigned long long)st.by_kind[TEV_REGION_END]);
	for (int c = 0; c < TBAR_CLASSES; c++)
		if (bar[c])
			printf(", %llu %s", (unsigned long long)bar[c], tbar_class_names[c]);
	printf(")\n");
	printf("locks:        %u, %llu acquisitions", t->nlocks, (unsigned long long)st.acquisitions);
	for (int c = 0; c < TLOCK_CLASSES; c++)
		if (lk[c])
			printf(", %llu %s", (unsigned long long)lk[c], tlock_class_names[c]);
	printf("\n");
	printf("compute:      %.1f%% of threads x duration (critical sections %.1f%%)\n",
	       100 * st.compute_fraction,
	       t->duration_ns ? 100.0 * (double)st.cs_ns / ((double)t->nthreads * (double)t->duration_ns) : 0);
	print_ns("mean interval between sync points: ", st.mean_interval_ns);
	printf("tlb flushes:  %llu calls, %.1f per second", (unsigned long long)st.tlb_flushes,
	       t->duration_ns ? (double)st.tlb_flushes * 1e9 / (double)t->duration_ns : 0.0);
	for (int c = 0; c < 4; c++)
		if (st.tlb_by_call[c])
			printf(", %llu %s", (unsigned long long)st.tlb_by_call[c], tflush_call_names[c]);
	printf("\n");
	printf("per thread:   events  barriers  acquisitions\n");
	for (int i = 0; i < t->nthreads; i++) {
		uint64_t b = 0, a = 0;
		for (size_t k = 0; k < t->threads[i].n; k++) {
			uint32_t kind = t->threads[i].ev[k].kind;
			b += kind == TEV_BARRIER_ENTER || kind == TEV_REGION_END;
			a += kind == TEV_LOCK_ACQ;
		}
		printf("  %-10d %7zu %9llu %13llu\n", i, t->threads[i].n, (unsigned long long)b,
		       (unsigned long long)a);
	}
	trace_free(t);
	return 0;
}

static int trace_convert(const char *in, const char *out)
{
	char err[1024];
	struct trace *t = trace_load(in, err, sizeof err);
	if (!t) {
		fprintf(stderr, "vcpusim trace: %s\n", err);
		return 2;
	}
	int rc = trace_write_file(t, out, err, sizeof err);
	trace_free(t);
	if (rc < 0) {
		fprintf(stderr, "vcpusim trace: %s\n", err);
		return 1;
	}
	return 0;
}

int cmd_trace(int argc, char **argv)
{
	if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
		trace_usage(argc < 2 ? stderr : stdout);
		return argc < 2 ? 2 : 0;
	}
	if (!strcmp(argv[1], "info")) {
		const char *file = NULL;
		int json = 0;
		for (int i = 2; i < argc; i++) {
			if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
				trace_usage(stdout);
				return 0;
			}
			if (!strcmp(argv[i], "--json"))
				json = 1;
			else if ((argv[i][0] != '-' || !argv[i][1]) && !file)
				file = argv[i];   /* - : standard input */
			else {
				fprintf(stderr, "vcpusim trace info: unexpected argument '%s'\n", argv[i]);
				return 2;
			}
		}
		if (!file) {
			fprintf(stderr, "vcpusim trace info: expected one trace file\n");
			return 2;
		}
		return trace_info(file, json);
	}
	if (!strcmp(argv[1], "convert")) {
		const char *in = NULL, *out = NULL;
		for (int i = 2; i < argc; i++) {
			if (!strcmp(argv[i], "-o") && i + 1 < argc)
				out = argv[++i];
			else if ((argv[i][0] != '-' || !argv[i][1]) && !in)
				in = argv[i];   /* - : standard input */
			else {
				fprintf(stderr, "vcpusim trace convert: unexpected argument '%s'\n", argv[i]);
				return 2;
			}
		}
		if (!in || !out) {
			fprintf(stderr, "vcpusim trace convert: expected FILE -o OUT\n");
			return 2;
		}
		if (same_file(out, in))
			return refuse_same("trace convert", out, in);
		return trace_convert(in, out);
	}
	fprintf(stderr, "vcpusim trace: unknown subcommand '%s' (expected info or convert)\n",
		argv[1]);
	return 2;
}

/* --------------------------------------------------------------- capture */

static void capture_usage(FILE *f)
{
	fprintf(f,
		"usage: vcpusim capture -o TRACE [--threads N] [--clock wall|cpu] [--lib PATH] --\n"
		"       PROGRAM [ARGS...]\n\n"
		"Runs PROGRAM with the capture library preloaded and writes its synchronisation\n"
		"trace (OpenMP/libgomp regions, barriers, critical sections and locks; pthread\n"
		"mutexes, spinlocks and barriers) to TRACE. --threads N sets OMP_NUM_THREADS.\n"
		"--clock cpu measures compute and critical sections in each thread's CPU time\n"
		"(for more threads than cores: time a thread was descheduled is not its work);\n"
		"--clock wall (default) in wall-clock time.\n"
		"The library is " CAPTURE_LIB ", found by --lib, else $VCPUSIM_CAPTURE_LIB,\n"
		"else next to the vcpusim binary, else in the installed tree's lib/vcpusim/.\n"
		"See docs/traces.md.\n");
}

static int find_lib(const char *opt, char *out, size_t n)
{
	const char *env = getenv("VCPUSIM_CAPTURE_LIB");
	if (opt || (env && *env)) {
		snprintf(out, n, "%s", opt ? opt : env);
		return access(out, R_OK) == 0 ? 0 : -1;
	}
	char exe[PATH_MAX];
	ssize_t len = readlink("/proc/self/exe", exe, sizeof exe - 1);
	if (len <= 0)
		return -1;
	exe[len] = 0;
	const char *dir = dirname(exe);
	snprintf(out, n, "%s/" CAPTURE_LIB, dir);   /* a build tree */
	if (access(out, R_OK) == 0)
		return 0;
#ifdef VCPUSIM_CAPTURE_RELDIR
	/* an installed tree: PREFIX/bin/vcpusim, PREFIX/lib/vcpusim/ (CMakeLists.txt) */
	int len2 = snprintf(out, n, "%s/" VCPUSIM_CAPTURE_RELDIR "/" CAPTURE_LIB, dir);
	if (len2 > 0 && (size_t)len2 < n && access(out, R_OK) == 0)
		return 0;
#endif
	return -1;
}

/* Copies the file from to the output out (sim/outfile.h). */
static int copy_out(const char *from, const char *out)
{
	FILE *f = fopen(from, "rb");
	if (!f)
		return -1;
	struct outfile o;
	if (outfile_open(&o, out) < 0) {
		fclose(f);
		return -1;
	}
	char buf[65536];
	size_t n;
	int err = 0;
	while (!err && (n = fread(buf, 1, sizeof buf, f)) > 0)
		err = fwrite(buf, 1, n, o.f) != n;
	err |= ferror(f) != 0;
	fclose(f);
	if (err) {
		outfile_abort(&o);
		errno = errno ? errno : EIO;
		return -1;
	}
	return outfile_commit(&o);
}

/* SIGINT/SIGTERM/SIGHUP to `vcpusim capture` (e.g. from timeout(1)) are passed on
 * to the program, so it does not run on orphaned; the capture then fails cleanly. */
static volatile sig_atomic_t capture_child;

static void forward_signal(int sig)
{
	if (capture_child > 0)
		kill((pid_t)capture_child, sig);
}

static double mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

int cmd_capture(int argc, char **argv)
{
	const char *out = NULL, *libopt = NULL, *threads = NULL, *clk = NULL;
	int i = 1;
	for (; i < argc; i++) {
		if (!strcmp(argv[i], "--")) {
			i++;
			break;
		}
		if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
			capture_usage(stdout);
			return 0;
		}
		if (!strcmp(argv[i], "-o") && i + 1 < argc)
			out = argv[++i];
		else if (!strcmp(argv[i], "--lib") && i + 1 < argc)
			libopt = argv[++i];
		else if (!strcmp(argv[i], "--threads") && i + 1 < argc)
			threads = argv[++i];
		else if (!strcmp(argv[i], "--clock") && i + 1 < argc)
			clk = argv[++i];
		else if (argv[i][0] != '-')
			break;   /* the program, without a -- */
		else {
			fprintf(stderr, "vcpusim capture: unknown option '%s'\n", argv[i]);
			capture_usage(stderr);
			return 2;
		}
	}
	if (!out || i >= argc) {
		fprintf(stderr, "vcpusim capture: expected -o TRACE -- PROGRAM [ARGS...]\n");
		return 2;
	}
	if (threads) {
		char *end;
		long n = strtol(threads, &end, 10);
		if (*end || n < 1 || n > TRACE_MAX_THREADS) {
			fprintf(stderr, "vcpusim capture: --threads: expected an integer 1..%d, got "
				"'%s'\n", TRACE_MAX_THREADS, threads);
			return 2;
		}
	}
	if (clk && strcmp(clk, "wall") && strcmp(clk, "cpu")) {
		fprintf(stderr, "vcpusim capture: --clock: expected wall or cpu, got '%s'\n", clk);
		return 2;
	}
	char lib[PATH_MAX];
	if (find_lib(libopt, lib, sizeof lib) < 0) {
		fprintf(stderr, "vcpusim capture: %s: capture library not found (build it with "
			"the project, or give --lib or VCPUSIM_CAPTURE_LIB)\n", lib);
		return 2;
	}
	/* An absolute temporary name: the program may change its directory. */
	char tmp[2 * PATH_MAX + 40], cwd[PATH_MAX] = ".";
	if (out[0] != '/' && !getcwd(cwd, sizeof cwd)) {
		perror("vcpusim capture: getcwd");
		return 1;
	}
	snprintf(tmp, sizeof tmp, "%s%s%s.capture.%ld", out[0] == '/' ? "" : cwd,
		 out[0] == '/' ? "" : "/", out, (long)getpid());
	/* The output must be writable before the program runs for nothing. */
	int probe = open(tmp, O_WRONLY | O_CREAT | O_EXCL, 0644);
	if (probe < 0) {
		fprintf(stderr, "vcpusim capture: %s: cannot write the trace there: %s\n", out,
			strerror(errno));
		return 2;
	}
	close(probe);
	unlink(tmp);
	size_t cmdlen = 1;
	for (int k = i; k < argc; k++)
		cmdlen += strlen(argv[k]) + 1;
	char *cmd = malloc(cmdlen);
	if (!cmd)
		return 1;
	cmd[0] = 0;
	for (int k = i; k < argc; k++) {
		strcat(cmd, argv[k]);
		if (k + 1 < argc)
			strcat(cmd, " ");
	}
	int pipefd[2];
	if (pipe2(pipefd, O_CLOEXEC) < 0) {
		perror("vcpusim capture: pipe");
		free(cmd);
		return 1;
	}
	unlink(tmp);
	double t0 = mono_ms();
	pid_t pid = fork();
	if (pid < 0) {
		perror("vcpusim capture: fork");
		free(cmd);
		return 1;
	}
	if (pid == 0) {
		close(pipefd[0]);
		const char *old = getenv("LD_PRELOAD");
		char *pre = malloc(strlen(lib) + (old ? strlen(old) : 0) + 2);
		char pidbuf[32];
		snprintf(pidbuf, sizeof pidbuf, "%ld", (long)getpid());
		if (pre) {
			sprintf(pre, "%s%s%s", lib, old && *old ? ":" : "", old && *old ? old : "");
			setenv("LD_PRELOAD", pre, 1);
		}
		setenv("VCPUSIM_TRACE_OUT", tmp, 1);
		setenv("VCPUSIM_TRACE_PID", pidbuf, 1);
		setenv("VCPUSIM_TRACE_PROGRAM", cmd, 1);
		if (threads)
			setenv("OMP_NUM_THREADS", threads, 1);
		if (clk) {   /* keeps a "monotonic" choice from the environment */
			const char *e = getenv("VCPUSIM_CAPTURE_CLOCK");
			int mono = e && strstr(e, "monotonic");
			if (!strcmp(clk, "cpu"))
				setenv("VCPUSIM_CAPTURE_CLOCK", mono ? "cpu,monotonic" : "cpu", 1);
			else if (mono)
				setenv("VCPUSIM_CAPTURE_CLOCK", "monotonic", 1);
			else
				unsetenv("VCPUSIM_CAPTURE_CLOCK");
		}
		execvp(argv[i], argv + i);
		int e = errno;
		if (write(pipefd[1], &e, sizeof e) < 0)
			_exit(127);
		_exit(127);
	}
	capture_child = pid;
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = forward_signal;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	close(pipefd[1]);
	int exec_errno = 0;
	ssize_t got;
	while ((got = read(pipefd[0], &exec_errno, sizeof exec_errno)) < 0 && errno == EINTR)
		;
	close(pipefd[0]);
	int status = 0;
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	double wall = mono_ms() - t0;
	if (got == (ssize_t)sizeof exec_errno) {
		fprintf(stderr, "vcpusim capture: cannot run '%s': %s\n", argv[i], strerror(exec_errno));
		free(cmd);
		return 2;
	}
	free(cmd);
	if (WIFSIGNALED(status)) {
		fprintf(stderr, "vcpusim capture: %s was killed by signal %d (%s); no trace\n",
			argv[i], WTERMSIG(status), strsignal(WTERMSIG(status)));
		unlink(tmp);
		return 1;
	}
	char err[1024];
	if (access(tmp, F_OK) != 0) {
		fprintf(stderr, "vcpusim capture: %s wrote no trace: the capture library was not "
			"loaded (a statically linked program?) or the program ended by _exit or "
			"exec\n", argv[i]);
		return 1;
	}
	struct trace *t = trace_load(tmp, err, sizeof err);
	if (!t) {
		fprintf(stderr, "vcpusim capture: %s wrote no usable trace (%s)\n", argv[i], err);
		unlink(tmp);
		return 1;
	}
	/* to out like every output (sim/outfile.h): through a symlink to its target,
	 * straight through to stdout (-) or a device */
	if (copy_out(tmp, out) < 0) {
		fprintf(stderr, "vcpusim capture: %s: cannot write: %s\n", out, strerror(errno));
		unlink(tmp);
		trace_free(t);
		return 1;
	}
	unlink(tmp);
	struct trace_stats st;
	trace_stats(t, &st);
	fprintf(stderr, "vcpusim capture: %s: %d threads, %llu events, %.3f ms traced "
		"(%.3f ms wall including start-up)\n", out, t->nthreads,
		(unsigned long long)st.events, (double)t->duration_ns / 1e6, wall);
	trace_free(t);
	int code = WIFEXITED(status) ? WEXITSTATUS(status) : 1;
	if (code) {
		fprintf(stderr, "vcpusim capture: warning: %s exited with status %d\n", argv[i], code);
		return 1;
	}
	return 0;
}
