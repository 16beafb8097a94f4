/* replay.c: vcpusim-bench-replay, the CPU split of a trace-replay run (issue 15's
 * target: loading a captured trace at most 20% of a replay run's CPU).
 *
 * usage: vcpusim-bench-replay [-n REPS] [--warm] SCENARIO.json...
 *
 * Each repetition is a fresh process, as a `vcpusim run` is (a process reusing its
 * own freed memory would hide the page faults of a first load): a forked child
 * loads the scenario (JSON, trace file, decoding, validation, guest programs:
 * scenario_load) and frees it again at the end, then simulates it (sim_create,
 * sim_run, sim_destroy), measuring each phase by its thread CPU time
 * (CLOCK_THREAD_CPUTIME_ID) and minor page faults (getrusage). Scenarios are
 * interleaved repetition by repetition, so a burst of load from other jobs on the
 * machine hits them alike; the median of each figure is printed.
 *
 * Of the load, the part that is the trace's own (reading the trace file, its checks,
 * its programs: trace_program_load, traces/replay.h) is timed too, by wrapping that
 * function at link time (-Wl,--wrap, CMakeLists.txt): the rest of the load (the
 * scenario's JSON, the host profile, the policy, the first touches of code and
 * memory of a fresh process) is paid by any scenario, with or without a trace.
 *
 * --warm (a diagnostic, not the measure of the target): each child first loads and
 * frees the scenario once, untimed, so that the timed load no longer pays the
 * process's first touches of code, heap and the lazy binding of library calls; the
 * difference from a plain run is what those first touches cost. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include "sim/jparse.h"
#include "sim/scenario.h"
#include "sim/sim.h"
#include "traces/replay.h"

struct split { double load_ms, sim_ms, trace_ms; long load_faults, sim_faults; };

static double cpu_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec * 1e-6;
}

static long minflt(void)
{
	struct rusage ru;
	getrusage(RUSAGE_SELF, &ru);
	return ru.ru_minflt;
}

/* CPU time inside trace_program_load in this process (the child's). */
static double trace_load_ms;
int __real_trace_program_load(const char *path, double time_scale, struct trace_program *p,
			      char *err, size_t errlen);
int __wrap_trace_program_load(const char *path, double time_scale, struct trace_program *p,
			      char *err, size_t errlen);
int __wrap_trace_program_load(const char *path, double time_scale, struct trace_program *p,
			      char *err, size_t errlen)
{
	double t = cpu_ms();
	int rc = __real_trace_program_load(path, time_scale, p, err, errlen);
	trace_load_ms += cpu_ms() - t;
	return rc;
}

static int warm;

/* In the child: one run of file, its split written to fd. */
static int measure(const char *file, int fd)
{
	struct split r;
	if (warm) {
		struct jp jw;
		jp_init(&jw, file);
		scenario_free(scenario_load(&jw, file, NULL, 0));
		trace_load_ms = 0;
	}
	long f0 = minflt();
	double t0 = cpu_ms();
	struct jp jp;
	jp_init(&jp, file);
	struct scenario *sc = scenario_load(&jp, file, NULL, 0);
	if (!sc) {
		fprintf(stderr, "%s\n", jp.msg);
		return 2;
	}
	double t1 = cpu_ms();
	long f1 = minflt();
	struct sim *s = sim_create(sc);
	sim_run(s);
	sim_destroy(s);
	double t2 = cpu_ms();
	long f2 = minflt();
	scenario_free(sc);
	double t3 = cpu_ms();
	long f3 = minflt();
	r.load_ms = (t1 - t0) + (t3 - t2);
	r.load_faults = (f1 - f0) + (f3 - f2);
	r.sim_ms = t2 - t1;
	r.sim_faults = f2 - f1;
	r.trace_ms = trace_load_ms;
	return write(fd, &r, sizeof r) == (ssize_t)sizeof r ? 0 : 1;
}

static int run_child(const char *file, struct split *out)
{
	int p[2];
	if (pipe(p) < 0)
		return -1;
	fflush(NULL);
	pid_t pid = fork();
	if (pid < 0)
		return -1;
	if (pid == 0) {
		close(p[0]);
		_exit(measure(file, p[1]));
	}
	close(p[1]);
	ssize_t n = read(p[0], out, sizeof *out);
	close(p[0]);
	int st;
	waitpid(pid, &st, 0);
	return n == (ssize_t)sizeof *out && WIFEXITED(st) && WEXITSTATUS(st) == 0 ? 0 : -1;
}

static int cmp_d(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

static double median(double *v, int n)
{
	qsort(v, (size_t)n, sizeof *v, cmp_d);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

int main(int argc, char **argv)
{
	int reps = 11, first = 1;
	if (argc > 2 && !strcmp(argv[1], "-n")) {
		reps = atoi(argv[2]);
		first = 3;
	}
	if (first < argc && !strcmp(argv[first], "--warm")) {
		warm = 1;
		first++;
	}
	if (first >= argc || reps < 1 || reps > 1000) {
		fprintf(stderr, "usage: vcpusim-bench-replay [-n REPS] [--warm] SCENARIO.json...\n");
		return 2;
	}
	int nf = argc - first;
	struct split *all = calloc((size_t)(nf * reps), sizeof *all);
	double *v = calloc((size_t)reps, sizeof *v);
	if (!all || !v)
		return 1;
	for (int r = 0; r < reps; r++)   /* interleaved: scenario after scenario */
		for (int i = 0; i < nf; i++)
			if (run_child(argv[first + i], &all[i * reps + r]) < 0) {
				fprintf(stderr, "vcpusim-bench-replay: %s: the run failed\n", argv[first + i]);
				return 1;
			}
	printf("CPU time per replay run, median of %d fresh processes (thread CPU time)%s:\n", reps,
	       warm ? ", each loading the scenario once untimed first (--warm)" : "");
	printf("%-34s %8s %8s %7s %9s %8s %11s %10s\n", "scenario", "load_ms", "sim_ms", "load_%",
	       "trace_ms", "trace_%", "load_faults", "sim_faults");
	for (int i = 0; i < nf; i++) {
		struct split *s = &all[i * reps];
		/* each column's median over the repetitions: load, simulation, load
		 * share, trace, trace share (of the run's CPU), load and sim faults */
		enum { NCOL = 7 };
		double m[NCOL];
		for (int c = 0; c < NCOL; c++) {
			for (int r = 0; r < reps; r++) {
				const struct split *x = &s[r];
				double run = x->load_ms + x->sim_ms;
				double col[NCOL] = { x->load_ms, x->sim_ms, 100 * x->load_ms / run, x->trace_ms,
						     100 * x->trace_ms / run, (double)x->load_faults,
						     (double)x->sim_faults };
				v[r] = col[c];
			}
			m[c] = median(v, reps);
		}
		const char *name = strrchr(argv[first + i], '/');
		printf("%-34s %8.2f %8.2f %6.1f%% %9.2f %7.1f%% %11.0f %10.0f\n",
		       name ? name + 1 : argv[first + i], m[0], m[1], m[2], m[3], m[4], m[5], m[6]);
	}
	free(all);
	free(v);
	return 0;
}
