/* pool.c: the processes of a sweep: N at a time, each in its own process group,
 * killed on timeout or when the sweep is interrupted (SIGINT, SIGTERM, SIGHUP). */
#include "sweep/internal.h"
#include <cjson/cJSON.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#ifdef __linux__
#include <sys/prctl.h>
#endif

volatile sig_atomic_t sweep_stop;

static void on_stop(int sig)
{
	sweep_stop = sig;
}

static void on_child(int sig)
{
	(void)sig; /* only wakes the sleep in pool_run */
}

static pid_t spawn(const struct pool *pl, const struct job *j)
{
	pid_t pid = fork();
	if (pid != 0) {
		if (pid > 0)
			setpgid(pid, pid);
		return pid;
	}
	setpgid(0, 0);
#ifdef __linux__
	prctl(PR_SET_PDEATHSIG, SIGKILL); /* a killed sweep leaves no runs behind */
#endif
	struct sigaction sa = { .sa_handler = SIG_DFL };
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	sigaction(SIGCHLD, &sa, NULL);
	int in = open("/dev/null", O_RDONLY), out = open("/dev/null", O_WRONLY);
	int err = open(j->err, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	if (in >= 0)
		dup2(in, 0);
	if (out >= 0)
		dup2(out, 1);
	if (err >= 0)
		dup2(err, 2);
	char *argv[6] = { (char *)pl->exe, j->validate ? "validate" : "run", (char *)j->scen,
			  j->validate ? NULL : "-o", (char *)j->out, NULL };
	if (pl->use_path)
		execvp(pl->exe, argv);
	else
		execv(pl->exe, argv);
	fprintf(stderr, "cannot execute %s: %s\n", pl->exe, strerror(errno));
	_exit(127);
}

/* Runs tasks 0..n-1, pl->jobs at a time. Returns 0, the first nonzero code of a
 * callback, or 128+signal when interrupted (its runs are killed, not recorded). */
int pool_run(struct pool *pl, long n)
{
	struct job *slots = calloc((size_t)pl->jobs, sizeof *slots);
	if (!slots) {
		fprintf(stderr, "vcpusim sweep: out of memory\n");
		return 1;
	}
	long next = 0;
	int running = 0, stop = 0, killed = 0;
	double last_progress = 0;
	for (;;) {
		while (!stop && !sweep_stop && running < pl->jobs && next < n) {
			int s = 0;
			while (slots[s].pid)
				s++;
			struct job *j = &slots[s];
			memset(j, 0, sizeof *j);
			j->idx = next++;
			int r = pl->prepare(pl->ctx, j->idx, j);
			if (r < 0)
				continue;
			if (r) {
				stop = r;
				break;
			}
			j->pid = spawn(pl, j);
			if (j->pid < 0) {
				fprintf(stderr, "vcpusim sweep: cannot start a run: %s\n", strerror(errno));
				j->pid = 0;
				stop = 1;
				break;
			}
			j->start = now_s();
			running++;
		}
		if (!running && (stop || sweep_stop || next >= n))
			break;
		if (sweep_stop && !killed) {
			for (int s = 0; s < pl->jobs; s++)
				if (slots[s].pid) {
					kill(-slots[s].pid, SIGKILL);
					kill(slots[s].pid, SIGKILL);
				}
			killed = 1;
		}
		/* peek first: while the ended run is an unreaped zombie its process group
		 * id cannot be reused, so whatever it left running there can be killed
		 * without hitting anyone else's processes */
		siginfo_t si;
		memset(&si, 0, sizeof si);
		pid_t w = 0;
		int st = 0;
		int wr = waitid(P_ALL, 0, &si, WEXITED | WNOHANG | WNOWAIT);
		if (wr == 0 && si.si_pid > 0) {
			for (int s = 0; s < pl->jobs; s++)
				if (slots[s].pid == si.si_pid)
					kill(-si.si_pid, SIGKILL);
			while ((w = waitpid(si.si_pid, &st, 0)) < 0 && errno == EINTR)
				;
		} else if (wr < 0 && errno == ECHILD) {
			w = -1;
		}
		if (w > 0) {
			for (int s = 0; s < pl->jobs; s++)
				if (slots[s].pid == w) {
					running--;
					slots[s].pid = 0;
					int r = pl->done(pl->ctx, &slots[s], st);
					if (r && !stop)
						stop = r;
					if (pl->progress)
						pl->progress(pl->ctx, running, 0);
				}
			continue;
		}
		if (w < 0 && errno == ECHILD)
			break;
		double t = now_s();
		for (int s = 0; s < pl->jobs; s++)
			if (slots[s].pid && !slots[s].timed_out && t - slots[s].start > pl->timeout_s) {
				kill(-slots[s].pid, SIGKILL);
				kill(slots[s].pid, SIGKILL);
				slots[s].timed_out = 1;
			}
		if (pl->progress && t - last_progress > 0.5) {
			pl->progress(pl->ctx, running, 0);
			last_progress = t;
		}
		struct timespec ts = { 0, 20 * 1000 * 1000 };
		nanosleep(&ts, NULL);
	}
	free(slots);
	if (pl->progress)
		pl->progress(pl->ctx, 0, 1);
	return sweep_stop ? 128 + sweep_stop : stop;
}

/* Why a process ended badly, or NULL if it exited 0. */
const char *status_text(int st, int timed_out, double timeout_s, char *buf, size_t n)
{
	if (timed_out)
		sfmt(buf, n, "timed out after %g s (killed)", timeout_s);
	else if (WIFEXITED(st) && WEXITSTATUS(st) == 0)
		return NULL;
	else if (WIFEXITED(st))
		sfmt(buf, n, "exit status %d", WEXITSTATUS(st));
	else if (WIFSIGNALED(st))
		sfmt(buf, n, "killed by signal %d (%s)", WTERMSIG(st), strsignal(WTERMSIG(st)));
	else
		sfmt(buf, n, "ended with wait status %d", st);
	return buf;
}

/* The first line of a file (a run's stderr), without a trailing newline. */
void first_line(const char *path, char *out, size_t n)
{
	out[0] = 0;
	FILE *f = fopen(path, "r");
	if (!f)
		return;
	if (fgets(out, (int)n, f))
		out[strcspn(out, "\n")] = 0;
	fclose(f);
}

void install_signals(struct sigaction *old)
{
	struct sigaction sa = { .sa_handler = on_stop };
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, &old[0]);
	sigaction(SIGTERM, &sa, &old[1]);
	sigaction(SIGHUP, &sa, &old[2]);
	sa.sa_handler = on_child;
	sa.sa_flags = SA_NOCLDSTOP;
	sigaction(SIGCHLD, &sa, &old[3]);
}

void restore_signals(const struct sigaction *old)
{
	sigaction(SIGINT, &old[0], NULL);
	sigaction(SIGTERM, &old[1], NULL);
	sigaction(SIGHUP, &old[2], NULL);
	sigaction(SIGCHLD, &old[3], NULL);
}
