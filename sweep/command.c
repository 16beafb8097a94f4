/* command.c: `vcpusim sweep`: runs a base scenario across the cartesian product of
 * its variations and replicate seeds, N runs at a time; keeps every result in
 * DIR/runs/ and writes DIR/results.csv and DIR/summary.csv. Resumes an interrupted
 * sweep, runs one shard of it (--shard K/N) and merges shard directories (--merge).
 * The sweep file format is documented in docs/sweeps.md. */
#include "sweep/internal.h"
#include "sim/cli.h"
#include "sim/jparse.h"
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

/* Whether path, when it exists, is a regular file (after symlinks); else says so. */
static int regular_or_absent(const char *path)
{
	struct stat st;
	if (stat(path, &st) < 0 || S_ISREG(st.st_mode))
		return 1;
	fprintf(stderr, "vcpusim sweep: %s is not a regular file (%s): the sweep reads and "
			"rewrites it when resuming; remove it\n", path,
		S_ISDIR(st.st_mode) ? "a directory" : S_ISFIFO(st.st_mode) ? "a FIFO" :
		S_ISCHR(st.st_mode) || S_ISBLK(st.st_mode) ? "a device" : "not a file");
	return 0;
}

/* Resuming: what the sweep reads back or rewrites in DIR must be what it wrote,
 * regular files. A FIFO as results.csv or a run's JSON would block the sweep
 * for ever (after all its runs, for the tables), a device would swallow them;
 * reads are bounded besides (sweep_read_file, jp_load_file). Refuses (0, message
 * printed) before anything runs. */
static int resume_files_ok(const char *dir)
{
	static const char *const top[] = { "results.csv", "summary.csv" };
	char path[PATH_MAX];
	for (int i = 0; i < 2; i++) {
		sfmt(path, sizeof path, "%s/%s", dir, top[i]);
		if (!regular_or_absent(path))
			return 0;
	}
	sfmt(path, sizeof path, "%s/runs", dir);
	DIR *d = opendir(path);
	struct dirent *e;
	int ok = 1;
	while (ok && d && (e = readdir(d))) {
		if (e->d_name[0] == '.')
			continue;   /* (d_type is not POSIX: a stat each, on resume only) */
		sfmt(path, sizeof path, "%s/runs/%s", dir, e->d_name);
		ok = regular_or_absent(path);
	}
	if (d)
		closedir(d);
	return ok;
}

/* Whether DIR can hold this sweep: 0 new or empty, 1 holds this very sweep, 2
 * refused (message printed). Changes nothing. */
int check_dir(const char *dir, const struct sweep *sw, const char *src)
{
	struct stat st;
	if (stat(dir, &st) < 0)
		return 0;
	if (!S_ISDIR(st.st_mode)) {
		fprintf(stderr, "vcpusim sweep: %s exists and is not a directory\n", dir);
		return 2;
	}
	char path[PATH_MAX];
	sfmt(path, sizeof path, "%s/sweep.json", dir);
	if (file_exists(path)) {
		const char *why;
		char *old = sweep_read_file(path, NULL, &why);
		if (!old) {
			fprintf(stderr, "vcpusim sweep: %s: %s\n", path, why);
			return 2;
		}
		if (!strcmp(old, sw->canon_text)) {
			free(old);
			return resume_files_ok(dir) ? 1 : 2;
		}
		/* name the first line that differs */
		const char *a = old, *b = sw->canon_text;
		int line = 1;
		while (*a && *a == *b) {
			line += *a == '\n';
			a++;
			b++;
		}
		while (a > old && a[-1] != '\n') {
			a--;
			b--;
		}
		fprintf(stderr,
			"vcpusim sweep: %s holds the results of a different sweep: %s (with its base "
			"scenario) differs from the %s kept there (first at line %d: %.*s | now: %.*s).\n"
			"Use another output directory, or delete %s to start over.\n",
			dir, src, path, line, (int)strcspn(a, "\n"), a, (int)strcspn(b, "\n"), b, dir);
		free(old);
		return 2;
	}
	DIR *d = opendir(dir);
	if (!d) {
		fprintf(stderr, "vcpusim sweep: cannot read directory %s: %s\n", dir, strerror(errno));
		return 2;
	}
	struct dirent *e;
	int empty = 1;
	while ((e = readdir(d)))
		if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..") && !strstr(e->d_name, ".tmp."))
			empty = 0;
	closedir(d);
	if (!empty) {
		fprintf(stderr, "vcpusim sweep: %s is not empty and holds no sweep.json: it is not a "
				"sweep's output directory; use a new or an empty one\n", dir);
		return 2;
	}
	return 0;
}

int make_dir(const char *dir, const struct sweep *sw)
{
	char path[PATH_MAX];
	sfmt(path, sizeof path, "%s/runs", dir);
	if (mkdir_p(dir) < 0 || mkdir_p(path) < 0) {
		fprintf(stderr, "vcpusim sweep: cannot create %s: %s\n", path, strerror(errno));
		return 1;
	}
	/* leftovers of a sweep killed outright: partial outputs of processes now gone */
	DIR *d = opendir(path);
	struct dirent *e;
	while (d && (e = readdir(d))) {
		/* NAME.part.PID (a run's output, PID the sweep's) and its writer's temp
		 * file NAME.part.PID.tmp.PID2 (sim/outfile.c): stale when either process
		 * is gone (a killed worker may linger as a zombie for a while, its sweep
		 * not) */
		int stale = 0;
		const char *marks[2] = { ".part.", ".tmp." };
		for (int m = 0; m < 2 && !stale; m++) {
			const char *t = strstr(e->d_name, marks[m]);
			if (!t)
				continue;
			t += strlen(marks[m]);
			char *end = NULL;
			long pid = strtol(t, &end, 10);
			stale = end != t && (*end == 0 || *end == '.') && pid > 0 &&
				kill((pid_t)pid, 0) < 0 && errno == ESRCH;
		}
		if (stale) {
			char f[PATH_MAX];
			sfmt(f, sizeof f, "%s/%s", path, e->d_name);
			unlink(f);
		}
	}
	if (d)
		closedir(d);
	sfmt(path, sizeof path, "%s/sweep.json", dir);
	if (!file_exists(path) &&
	    sweep_write_file(path, sw->canon_text, strlen(sw->canon_text)) < 0) {
		fprintf(stderr, "vcpusim sweep: cannot write %s: %s\n", path, strerror(errno));
		return 1;
	}
	return 0;
}

/* ---------------------------------------------------------------- sweep runs */

struct runctx {
	const struct sweep *sw;
	const char *dir;
	const unsigned char *sel;   /* per point */
	const unsigned char *need;  /* per point: some run still missing */
	const unsigned char *have;  /* per run: its valid result is there already */
	int in_process;             /* runs by the workers (not VCPUSIM_SWEEP_RUNNER) */
	char tmpdir[PATH_MAX];
	long total, done, failed, done_at_start;
	double t0;
	int tty, shown;
	char msg[2048];
	long msg_idx;               /* the task msg is about; -1: none */
	int msg_rc;                 /* and the exit status that goes with it */
};

/* Keeps the message of the first failing task in task order, whatever order the
 * workers finish in: with several invalid points, the one named no longer
 * depends on timing (issue 13, item 14). The pool hands out tasks in order and,
 * once one fails, lets the running ones finish: every task before a failing one
 * was handed out, so its failure is seen too. Returns rc. */
static int fail_task(struct runctx *c, long idx, int rc, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
static int fail_task(struct runctx *c, long idx, int rc, const char *fmt, ...)
{
	if (c->msg_idx >= 0 && idx >= c->msg_idx)
		return rc;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(c->msg, sizeof c->msg, fmt, ap);
	va_end(ap);
	c->msg_idx = idx;
	c->msg_rc = rc;
	return rc;
}

static int write_json(const char *path, const cJSON *doc)
{
	char *t = cJSON_Print(doc);
	if (!t)
		return -1;
	size_t n = strlen(t);
	t[n] = 0;
	struct sbuf b = { 0 };
	sb_add(&b, t, n);
	sb_add(&b, "\n", 1);
	free(t);
	int rc = b.oom ? -1 : sweep_write_file(path, b.p, b.len);
	sb_free(&b);
	return rc;
}


/* Writes a job's scenario file (and frees doc): 0, or 1 with the message in c->msg. */
static int write_job_scenario(struct runctx *c, const struct job *j, cJSON *doc)
{
	int rc = write_json(j->scen, doc);
	cJSON_Delete(doc);
	if (rc < 0)
		return fail_task(c, j->idx, 1, "vcpusim sweep: cannot write %s: %s", j->scen,
				 strerror(errno));
	return 0;
}

static int prepare_validate(void *vc, long p, struct job *j)
{
	struct runctx *c = vc;
	if (!c->need[p])
		return -1;
	char why[512];
	cJSON *doc = point_scenario(c->sw, p, c->sw->seeds[0], why, sizeof why);
	if (!doc) {
		char label[1024];
		point_label(c->sw, p, label, sizeof label);
		return fail_task(c, p, 2, "%s: point %ld (%s): %s", c->sw->file, p, label, why);
	}
	j->validate = 1;
	sfmt(j->scen, sizeof j->scen, "%s/point-%ld.json", c->tmpdir, p);
	sfmt(j->err, sizeof j->err, "%s/point-%ld.err", c->tmpdir, p);
	return write_job_scenario(c, j, doc);
}

static int done_validate(void *vc, struct job *j, int st)
{
	struct runctx *c = vc;
	char buf[256], line[1024], label[1024];
	const char *bad = status_text(st, j->timed_out, c->sw->timeout_s, buf, sizeof buf);
	first_line(j->err, line, sizeof line);
	unlink(j->scen);
	unlink(j->err);
	if (!bad || sweep_stop)
		return 0;
	point_label(c->sw, j->idx, label, sizeof label);
	/* the checker names our temporary file; say which point it was instead */
	const char *m = line;
	size_t sl = strlen(j->scen);
	if (!strncmp(m, j->scen, sl) && !strncmp(m + sl, ": ", 2))
		m += sl + 2;
	if (WIFEXITED(st) && WEXITSTATUS(st) == 2 && !j->timed_out)
		return fail_task(c, j->idx, 2, "%s: point %ld (%s): the scenario is invalid: %s",
				 c->sw->file, j->idx, label, *m ? m : "(no message)");
	return fail_task(c, j->idx, 1, "vcpusim sweep: could not check point %ld (%s): %s%s%s",
			 j->idx, label, bad, *m ? ": " : "", m);
}

static int prepare_run(void *vc, long r, struct job *j)
{
	struct runctx *c = vc;
	const struct sweep *sw = c->sw;
	long p = r / sw->nseeds;
	if (!c->sel[p])
		return -1;
	char name[64], why[512];
	run_name(sw, r, name, sizeof name);
	sfmt(j->out, sizeof j->out, "%s/runs/%s.json", c->dir, name);
	if (c->have[r])
		return -1;
	cJSON *doc = point_scenario(sw, p, sw->seeds[r % sw->nseeds], why, sizeof why);
	if (!doc)
		return fail_task(c, r, 2, "%s: point %ld: %s", sw->file, p, why);
	sfmt(j->scen, sizeof j->scen, "%s/runs/%s.scenario.json", c->dir, name);
	sfmt(j->err, sizeof j->err, "%s/runs/%s.err", c->dir, name);
	sfmt(j->out, sizeof j->out, "%s/runs/%s.json.part.%ld", c->dir, name, (long)getpid());
	return write_job_scenario(c, j, doc);
}

static int done_run(void *vc, struct job *j, int st)
{
	struct runctx *c = vc;
	const struct sweep *sw = c->sw;
	char name[64], final[PATH_MAX], failed[PATH_MAX], buf[600];
	run_name(sw, j->idx, name, sizeof name);
	sfmt(final, sizeof final, "%s/runs/%s.json", c->dir, name);
	sfmt(failed, sizeof failed, "%s/runs/%s.failed", c->dir, name);
	if (sweep_stop) { /* interrupted: neither a result nor a failure */
		unlink(j->out);
		return 0;
	}
	const char *bad = status_text(st, j->timed_out, sw->timeout_s, buf, sizeof buf);
	if (!bad) {
		/* an external runner's output is checked; a worker's is what cmd_run wrote
		 * when it returned 0, and is parsed once, for the tables, not twice */
		struct jp jp;
		jp_init(&jp, j->out);
		cJSON *doc = c->in_process ? NULL : jp_load_file(&jp, j->out);
		const char *prob = c->in_process ? NULL : doc ? results_problem(doc) : jp.msg;
		if (!prob && rename(j->out, final) == 0) {
			cJSON_Delete(doc);
			unlink(j->err);
			unlink(failed);
			c->done++;
			return 0;
		}
		sfmt(buf, sizeof buf, "exited 0 but left no valid results: %.500s",
			 prob ? prob : strerror(errno));
		bad = buf;
		cJSON_Delete(doc);
	}
	unlink(j->out);
	c->failed++;
	struct sbuf b = { 0 };
	sb_printf(&b, "%s\n", bad);
	char *err = sweep_read_file(j->err, NULL, NULL);
	if (err) {
		sb_printf(&b, "stderr of the run (%s):\n%.4000s", j->err, err);
		free(err);
	}
	if (!b.oom)
		sweep_write_file(failed, b.p, b.len);
	sb_free(&b);
	if (WIFEXITED(st) && WEXITSTATUS(st) == 2 && !j->timed_out) {
		char line[1024];
		first_line(j->err, line, sizeof line);
		return fail_task(c, j->idx, 2, "%s: point %ld: the run rejected its scenario %s: %s",
				 sw->file, j->idx / sw->nseeds, j->scen, line);
	}
	return 0;
}

static void fmt_dur(double s, char *out, size_t n)
{
	if (s < 0 || !isfinite(s))
		sfmt(out, n, "?");
	else if (s < 60)
		sfmt(out, n, "%.0fs", s);
	else if (s < 3600)
		sfmt(out, n, "%dm%02ds", (int)(s / 60), (int)fmod(s, 60));
	else
		sfmt(out, n, "%dh%02dm", (int)(s / 3600), (int)fmod(s / 60, 60));
}

static void progress_run(void *vc, int running, int final)
{
	struct runctx *c = vc;
	if (!c->tty)
		return;
	if (final) {
		if (c->shown)
			fputc('\n', stderr);
		return;
	}
	double el = now_s() - c->t0;
	long now_done = c->done + c->failed - c->done_at_start;
	long left = c->total - c->done - c->failed;
	char eta[32], ela[32];
	if (now_done > 0)
		fmt_dur(el / now_done * left, eta, sizeof eta);
	else
		sfmt(eta, sizeof eta, "?");
	fmt_dur(el, ela, sizeof ela);
	fprintf(stderr, "\r\033[Ksweep: %ld/%ld runs done", c->done + c->failed, c->total);
	if (c->failed)
		fprintf(stderr, " (%ld failed)", c->failed);
	fprintf(stderr, ", %d running, %s elapsed, ETA %s", running, ela, eta);
	fflush(stderr);
	c->shown = 1;
}

/* ---------------------------------------------------------------- commands */

static void sweep_usage(FILE *f)
{
	fprintf(f,
		"usage: vcpusim sweep SWEEP.json -o DIR [-j N] [--shard K/N] [--timeout SEC]\n"
		"       vcpusim sweep SWEEP.json --dry-run [-o DIR] [--shard K/N]\n"
		"       vcpusim sweep --merge DIR... -o OUT\n\n"
		"Runs the base scenario of SWEEP.json at every point of its variations (`vary`:\n"
		"cartesian product, `zip`: lists varied together) with each replicate seed, N\n"
		"runs at a time (default: the number of CPUs) in worker processes that run them\n"
		"in-process, as `vcpusim run` would. Writes DIR/results.csv (a row a run),\n"
		"DIR/summary.csv (n, mean, sd, 95%% CI, median, min, max, censored per point and\n"
		"metric) and every run's results in DIR/runs/. Rerun into the same DIR\n"
		"to finish an interrupted sweep (or retry failed runs): only missing runs run.\n\n"
		"  -o DIR         output directory (created)\n"
		"  -j N           runs at a time, 1 to 4096 (default: CPUs)\n"
		"  --shard K/N    run only the K-th of N slices of the points (1 <= K <= N)\n"
		"  --timeout SEC  kill a run after SEC seconds and count it failed (default:\n"
		"                 the sweep's timeout_s, else 3600)\n"
		"  --merge DIR... combine the output directories of shards into OUT\n"
		"  -n, --dry-run  check every point's scenario, list the points and count the\n"
		"                 runs (with -o: how many are done already); run nothing\n\n"
		"Exit: 0 all runs succeeded, 1 some failed (see DIR/runs/*.failed), 2 bad input.\n"
		"The sweep file format: docs/sweeps.md. Environment: VCPUSIM_SWEEP_RUNNER names a\n"
		"program run instead of the workers, a process per run (called as `PROG run SCEN\n"
		"-o OUT` and `PROG validate SCEN`), for tests.\n");
}



/* -j: a worker process and two pipes each; past a few thousand the sweep would
 * run out of file descriptors and processes rather than go faster. */
#define SWEEP_MAX_JOBS 4096

int cmd_sweep(int argc, char **argv)
{
	const char *file = NULL, *out = NULL;
	long jobs = 0, shard_k = 1, shard_n = 1;
	double timeout = 0;
	int merge = 0, npos = 0, dry = 0;
	char **pos = calloc((size_t)argc + 1, sizeof *pos);
	if (!pos)
		return 1;
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		const char *v = i + 1 < argc ? argv[i + 1] : NULL;
		if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
			sweep_usage(stdout);
			free(pos);
			return 0;
		} else if (!strcmp(a, "-o") && v) {
			out = v;
			i++;
		} else if (!strcmp(a, "-j") && v) {
			i++;
			if (parse_long(v, 1, SWEEP_MAX_JOBS, &jobs) < 0)
				goto bad_jobs;
		} else if (!strncmp(a, "-j", 2) && a[2]) {
			v = a + 2;
			if (parse_long(v, 1, SWEEP_MAX_JOBS, &jobs) < 0)
				goto bad_jobs;
		} else if (!strcmp(a, "--shard") && v) {
			char k[32], n[32];
			if (sscanf(v, "%31[0-9]/%31[0-9]", k, n) != 2 ||
			    parse_long(n, 1, 1000000, &shard_n) < 0 ||
			    parse_long(k, 1, shard_n, &shard_k) < 0 ||
			    strlen(v) != strlen(k) + strlen(n) + 1) {
				fprintf(stderr, "vcpusim sweep: --shard %s: expected K/N with 1 <= K <= N\n", v);
				free(pos);
				return 2;
			}
			i++;
		} else if (!strcmp(a, "--timeout") && v) {
			char *end;
			timeout = strtod(v, &end);
			if (*end || !(timeout > 0) || !isfinite(timeout)) {
				fprintf(stderr, "vcpusim sweep: --timeout %s: expected seconds > 0\n", v);
				free(pos);
				return 2;
			}
			i++;
		} else if (!strcmp(a, "--dry-run") || !strcmp(a, "-n")) {
			dry = 1;
		} else if (!strcmp(a, "--merge")) {
			merge = 1;
		} else if (a[0] == '-' && a[1]) {
			fprintf(stderr, "vcpusim sweep: unknown option or missing value: %s\n", a);
			sweep_usage(stderr);
			free(pos);
			return 2;
		} else {
			pos[npos++] = argv[i];
		}
		continue;
bad_jobs:
		fprintf(stderr, "vcpusim sweep: -j %s: expected a whole number of runs at a time "
				"from 1 to %d\n", v, SWEEP_MAX_JOBS);
		free(pos);
		return 2;
	}
	if ((!out && !dry) || npos < 1 || (!merge && npos != 1) || (merge && dry)) {
		fprintf(stderr, "vcpusim sweep: %s\n",
			merge && dry ? "--dry-run is for a sweep file, not --merge"
			: !out && !dry ? "missing -o DIR"
			: merge ? "--merge needs shard directories" : "expected exactly one sweep file");
		sweep_usage(stderr);
		free(pos);
		return 2;
	}
	if (merge) {
		int rc = do_merge(pos, npos, out);
		free(pos);
		return rc;
	}
	file = pos[0];
	free(pos);

	struct sweep sw;
	char msg[2048];
	if (sweep_load(&sw, file, msg, sizeof msg)) {
		fprintf(stderr, "%s\n", msg);
		return 2;
	}
	if (timeout > 0)
		sw.timeout_s = timeout;
	if (!jobs) {
		long n = sysconf(_SC_NPROCESSORS_ONLN);
		jobs = n > 0 ? n : 1;
	}
	int rc = out ? check_dir(out, &sw, file) : 0;
	if (rc == 2) {
		sweep_free(&sw);
		return 2;
	}

	struct runctx c = { .sw = &sw, .dir = out, .msg_idx = -1 };
	unsigned char *sel = calloc((size_t)sw.npoints, 1), *need = calloc((size_t)sw.npoints, 1);
	unsigned char *have = calloc((size_t)(sw.npoints * sw.nseeds), 1);
	if (!sel || !need || !have) {
		fprintf(stderr, "vcpusim sweep: out of memory\n");
		free(sel);
		free(need);
		free(have);
		sweep_free(&sw);
		return 1;
	}
	c.sel = sel;
	c.need = need;
	c.have = have;
	for (long p = 0; p < sw.npoints; p++)
		sel[p] = p % shard_n == shard_k - 1;
	char name[64], path[PATH_MAX];
	for (long r = 0; r < sw.npoints * sw.nseeds; r++) {
		long p = r / sw.nseeds;
		if (!sel[p])
			continue;
		c.total++;
		run_name(&sw, r, name, sizeof name);
		sfmt(path, sizeof path, "%s/runs/%s.json", out, name);
		if (rc == 1 && result_file_ok(path)) {
			c.done++;
			have[r] = 1;
		}
		else
			need[p] = 1;
	}
	c.done_at_start = c.done;
	if (dry) /* check them all, done or not */
		memcpy(need, sel, (size_t)sw.npoints);

	const char *hook = getenv("VCPUSIM_SWEEP_RUNNER");
	struct pool pl = { .jobs = (int)jobs, .timeout_s = sw.timeout_s,
			   .runner = hook && *hook ? hook : NULL, .ctx = &c };
	c.in_process = !pl.runner;
	struct sigaction old[4];
	sweep_stop = 0;
	install_signals(old);

	/* 1. check each point's scenario before anything is written */
	const char *tmp = getenv("TMPDIR");
	sfmt(c.tmpdir, sizeof c.tmpdir, "%s/vcpusim-sweep-XXXXXX", tmp && *tmp ? tmp : "/tmp");
	if (!mkdtemp(c.tmpdir)) {
		fprintf(stderr, "vcpusim sweep: cannot create a temporary directory %s: %s\n",
			c.tmpdir, strerror(errno));
		rc = 1;
		goto end;
	}
	pl.prepare = prepare_validate;
	pl.done = done_validate;
	rc = pool_run(&pl, sw.npoints);
	rmdir(c.tmpdir);
	if (rc) {
		if (c.msg_idx >= 0 && rc < 128) {
			fprintf(stderr, "%s\n", c.msg);
			rc = c.msg_rc;   /* the status of the failure named */
		}
		goto end;
	}

	if (dry) {
		char label[2048];
		for (long p = 0; p < sw.npoints; p++)
			if (sel[p]) {
				point_label(&sw, p, label, sizeof label);
				printf("point %ld: %s\n", p, label);
			}
		printf("%ld runs: %ld points x %d seeds", c.total, c.total / sw.nseeds, sw.nseeds);
		if (shard_n > 1)
			printf(" (shard %ld/%ld of %ld points)", shard_k, shard_n, sw.npoints);
		if (out)
			printf(", %ld already done in %s", c.done, out);
		printf("; every point's scenario is valid\n");
		goto end;
	}

	/* 2. the runs */
	if (make_dir(out, &sw)) {
		rc = 1;
		goto end;
	}
	c.tty = isatty(2);
	c.t0 = now_s();
	pl.prepare = prepare_run;
	pl.done = done_run;
	pl.progress = progress_run;
	c.msg_idx = -1;
	c.msg[0] = 0;
	rc = pool_run(&pl, sw.npoints * sw.nseeds);
	if (rc > 128) {
		fprintf(stderr, "vcpusim sweep: interrupted; %ld of %ld runs done, run the same "
				"command again to finish\n", c.done, c.total);
		goto end;
	}
	if (rc) {
		if (c.msg_idx >= 0) {
			fprintf(stderr, "%s\n", c.msg);
			rc = c.msg_rc;
		}
		goto end;
	}

	/* 3. the tables */
	struct outputs o = { 0 };
	rc = write_outputs(&sw, out, sel, &o);
	if (!rc)
		rc = report_outputs(&o, out);
	outputs_free(&o);
end:
	restore_signals(old);
	free(sel);
	free(need);
	free(have);
	sweep_free(&sw);
	return rc;
}
