/* pool.c: the processes of a sweep. N long-lived workers, each its own process
 * group, run task after task in-process (`vcpusim run` and `vcpusim validate` called
 * as functions, so a run costs what the simulation costs, not a fork, an exec and a
 * dynamic link). A worker that crashes or outlives the per-run timeout is killed with
 * its process group; only its task fails, and the next task gets a fresh worker. The
 * sweep interrupted (SIGINT, SIGTERM, SIGHUP) kills every worker; killed outright
 * (SIGKILL), it takes them with it (PR_SET_PDEATHSIG). With VCPUSIM_SWEEP_RUNNER (the
 * tests' hook) each task is instead one process executing that program. */
#include "sweep/internal.h"
#include "sim/cli.h"
#include "workloads/workload.h"
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
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
	(void)sig; /* only wakes the poll in pool_run */
}

/* A worker: a process running tasks sent on its pipe (in-process mode), or the
 * single process of one task (hook mode: from == -1). */
struct worker {
	pid_t pid;              /* 0: no process */
	int to, from;           /* pipe ends: tasks out, replies in */
	int busy;
	struct job job;
};

/* The reply of a worker for one task: the task and its status, in the encoding of
 * a wait status (exit code << 8), so a task and a process end alike. */
struct reply {
	long idx;
	int status;
};

static int write_full(int fd, const void *p, size_t n)
{
	const char *c = p;
	while (n) {
		ssize_t k = write(fd, c, n);
		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0)
			return -1;
		c += k;
		n -= (size_t)k;
	}
	return 0;
}

/* 1 read all n bytes, 0 end of file before any, -1 error or a short read */
static int read_full(int fd, void *p, size_t n)
{
	char *c = p;
	size_t got = 0;
	while (got < n) {
		ssize_t k = read(fd, c + got, n - got);
		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0)
			return got == 0 && k == 0 ? 0 : -1;
		got += (size_t)k;
	}
	return 1;
}

/* In a new child: its own process group, dies with the sweep, default signals,
 * stdin and stdout on /dev/null. */
static void child_setup(void)
{
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
	if (in >= 0)
		dup2(in, 0);
	if (out >= 0)
		dup2(out, 1);
	if (in > 2)
		close(in);
	if (out > 2)
		close(out);
}

/* Points stderr at the task's file (a crash report lands there too). */
static void stderr_to(const char *path)
{
	int err = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (err >= 0) {
		dup2(err, 2);
		close(err);
	}
}

/* One task in this process: exactly `vcpusim run SCEN -o OUT --quiet` or
 * `vcpusim validate SCEN`, as the command-line would run them. */
static int run_task(const struct job *j)
{
	stderr_to(j->err);
	char *argv[6] = { j->validate ? "validate" : "run", (char *)j->scen, NULL, NULL, NULL, NULL };
	int rc;
	if (j->validate) {
		rc = cmd_validate(2, argv);
	} else {
		argv[2] = "-o";
		argv[3] = (char *)j->out;
		argv[4] = "--quiet";
		rc = cmd_run(5, argv);
	}
	fflush(stderr);
	return (rc & 0xff) << 8;
}

static void worker_main(int in, int out)
{
	struct job j;
	trace_workload_cache(1); /* a trace replayed by many runs is read once here */
	while (read_full(in, &j, sizeof j) == 1) {
		struct reply r = { j.idx, run_task(&j) };
		if (write_full(out, &r, sizeof r) < 0)
			break;
	}
	_exit(0);
}

/* Starts an in-process worker; 0 or -1 (errno). */
static int start_worker(struct worker *w, struct worker *all, int n)
{
	int down[2], up[2];
	if (pipe(down) < 0)
		return -1;
	if (pipe(up) < 0) {
		close(down[0]);
		close(down[1]);
		return -1;
	}
	fflush(NULL);
	pid_t pid = fork();
	if (pid < 0) {
		close(down[0]);
		close(down[1]);
		close(up[0]);
		close(up[1]);
		return -1;
	}
	if (pid == 0) {
		child_setup();
		close(down[1]);
		close(up[0]);
		for (int i = 0; i < n; i++) /* the other workers' pipes */
			if (all[i].pid) {
				close(all[i].to);
				if (all[i].from >= 0)
					close(all[i].from);
			}
		worker_main(down[0], up[1]);
	}
	setpgid(pid, pid);
	close(down[0]);
	close(up[1]);
	fcntl(down[1], F_SETFD, FD_CLOEXEC);
	fcntl(up[0], F_SETFD, FD_CLOEXEC);
	w->pid = pid;
	w->to = down[1];
	w->from = up[0];
	w->busy = 0;
	return 0;
}

/* Hook mode: one process executing the runner for task j. */
static pid_t spawn_runner(const char *runner, const struct job *j)
{
	fflush(NULL);
	pid_t pid = fork();
	if (pid != 0) {
		if (pid > 0)
			setpgid(pid, pid);
		return pid;
	}
	child_setup();
	stderr_to(j->err);
	char *argv[6] = { (char *)runner, j->validate ? "validate" : "run", (char *)j->scen,
			  j->validate ? NULL : "-o", (char *)j->out, NULL };
	execvp(runner, argv);
	fprintf(stderr, "cannot execute %s: %s\n", runner, strerror(errno));
	_exit(127);
}

static void close_worker(struct worker *w)
{
	if (w->to >= 0)
		close(w->to);
	if (w->from >= 0)
		close(w->from);
	w->to = w->from = -1;
	w->pid = 0;
	w->busy = 0;
}

/* Ends a worker's process group and reaps the worker; its wait status. */
static int kill_worker(struct worker *w)
{
	int st = 0;
	kill(-w->pid, SIGKILL);
	kill(w->pid, SIGKILL);
	while (waitpid(w->pid, &st, 0) < 0 && errno == EINTR)
		;
	return st;
}

int pool_run(struct pool *pl, long n)
{
	struct worker *ws = calloc((size_t)pl->jobs, sizeof *ws);
	struct pollfd *pfd = calloc((size_t)pl->jobs, sizeof *pfd);
	int *pw = calloc((size_t)pl->jobs, sizeof *pw);
	if (!ws || !pfd || !pw) {
		free(ws);
		free(pfd);
		free(pw);
		fprintf(stderr, "vcpusim sweep: out of memory\n");
		return 1;
	}
	for (int i = 0; i < pl->jobs; i++)
		ws[i].to = ws[i].from = -1;
	long next = 0;
	int running = 0, stop = 0;
	double last_progress = 0;
	/* a task ended with wait status st */
#define FINISH(w, st)                                                               \
	do {                                                                        \
		(w)->busy = 0;                                                      \
		running--;                                                          \
		int r_ = pl->done(pl->ctx, &(w)->job, (st));                        \
		if (r_ && !stop)                                                    \
			stop = r_;                                                  \
		if (pl->progress)                                                   \
			pl->progress(pl->ctx, running, 0);                          \
	} while (0)
	for (;;) {
		/* hand out tasks */
		for (int i = 0; i < pl->jobs && !stop && !sweep_stop && next < n; i++) {
			struct worker *w = &ws[i];
			if (w->busy)
				continue;
			struct job *j = &w->job;
			memset(j, 0, sizeof *j);
			j->idx = next++;
			int r = pl->prepare(pl->ctx, j->idx, j);
			if (r < 0) {
				i--; /* same worker, next task */
				continue;
			}
			if (r) {
				stop = r;
				break;
			}
			int failed = 0;
			if (pl->runner) {
				pid_t pid = spawn_runner(pl->runner, j);
				if (pid < 0)
					failed = 1;
				else
					w->pid = pid;
			} else {
				if (!w->pid && start_worker(w, ws, pl->jobs) < 0)
					failed = 1;
				else if (write_full(w->to, j, sizeof *j) < 0)
					failed = 1; /* it died: seen below as a crash */
			}
			if (failed && !w->pid) {
				fprintf(stderr, "vcpusim sweep: cannot start a run: %s\n", strerror(errno));
				stop = 1;
				break;
			}
			j->start = now_s();
			w->busy = 1;
			running++;
		}
		if (!running && (stop || sweep_stop || next >= n))
			break;
		if (sweep_stop) {
			for (int i = 0; i < pl->jobs; i++)
				if (ws[i].pid) {
					int st = kill_worker(&ws[i]);
					if (ws[i].busy)
						FINISH(&ws[i], st);
					close_worker(&ws[i]);
				}
			continue;
		}
		/* replies */
		int np = 0;
		for (int i = 0; i < pl->jobs; i++)
			if (ws[i].busy && ws[i].from >= 0) {
				pfd[np].fd = ws[i].from;
				pfd[np].events = POLLIN;
				pfd[np].revents = 0;
				pw[np++] = i;
			}
		int pr = poll(pfd, (nfds_t)np, 20);
		for (int k = 0; pr > 0 && k < np; k++) {
			if (!(pfd[k].revents & (POLLIN | POLLHUP | POLLERR)))
				continue;
			struct worker *w = &ws[pw[k]];
			struct reply r;
			int rr = read_full(w->from, &r, sizeof r);
			if (rr == 1 && r.idx == w->job.idx) {
				FINISH(w, r.status);
			} else { /* the worker died: its task failed with how it ended */
				int st = kill_worker(w);
				FINISH(w, st);
				close_worker(w);
			}
		}
		/* ended processes: a hook-mode task, or a worker that died between tasks.
		 * Peek first: while the process is an unreaped zombie its process group id
		 * cannot be reused, so what it left running there can be killed without
		 * hitting anyone else's processes */
		for (;;) {
			siginfo_t si;
			memset(&si, 0, sizeof si);
			if (waitid(P_ALL, 0, &si, WEXITED | WNOHANG | WNOWAIT) < 0 || si.si_pid <= 0)
				break;
			int i = 0;
			while (i < pl->jobs && ws[i].pid != si.si_pid)
				i++;
			if (i == pl->jobs) { /* not ours (cannot happen): reap it */
				waitpid(si.si_pid, NULL, 0);
				continue;
			}
			struct worker *w = &ws[i];
			if (w->busy && w->from >= 0) {
				/* a reply may be waiting in the pipe */
				struct pollfd q = { .fd = w->from, .events = POLLIN };
				struct reply r;
				if (poll(&q, 1, 0) > 0 && read_full(w->from, &r, sizeof r) == 1 &&
				    r.idx == w->job.idx)
					FINISH(w, r.status);
			}
			int st = kill_worker(w);
			if (w->busy)
				FINISH(w, st);
			close_worker(w);
		}
		double t = now_s();
		for (int i = 0; i < pl->jobs; i++) {
			struct worker *w = &ws[i];
			if (w->busy && !w->job.timed_out && t - w->job.start > pl->timeout_s) {
				w->job.timed_out = 1;
				kill(-w->pid, SIGKILL);
				kill(w->pid, SIGKILL);
			}
		}
		if (pl->progress && t - last_progress > 0.5) {
			pl->progress(pl->ctx, running, 0);
			last_progress = t;
		}
	}
#undef FINISH
	/* idle workers: end of input makes them exit */
	for (int i = 0; i < pl->jobs; i++)
		if (ws[i].pid) {
			close(ws[i].to);
			ws[i].to = -1;
			int st;
			while (waitpid(ws[i].pid, &st, 0) < 0 && errno == EINTR)
				;
			close_worker(&ws[i]);
		}
	free(ws);
	free(pfd);
	free(pw);
	if (pl->progress)
		pl->progress(pl->ctx, 0, 1);
	return sweep_stop ? 128 + sweep_stop : stop;
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
