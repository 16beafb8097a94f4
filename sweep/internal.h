/* internal.h: what the files of sweep/ share and nothing outside them uses: the
 * parsed sweep (sweep file and points), the tables' per-run values, the process pool,
 * and the small helpers. The public part (for plot and the fuzz target) is sweep.h. */
#ifndef VCPUSIM_SWEEP_INTERNAL_H
#define VCPUSIM_SWEEP_INTERNAL_H
#include "sweep/sweep.h"
#include <cjson/cJSON.h>
#include <limits.h>
#include <signal.h>
#include <stdint.h>
#include <sys/types.h>

/* ---- text.c: helpers */
/* snprintf for messages and paths, where a cut-off at n bytes is acceptable. */
void sfmt(char *out, size_t n, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
double now_s(void);
int mkdir_p(const char *dir);
int file_exists(const char *path);
int parse_long(const char *s, long min, long max, long *out);

/* ---- points.c: the sweep file and its points */
/* A dimension of the product: one `vary` key, or one `zip` group whose keys take
 * their i-th values together. */
struct dim {
	int nkeys;
	int n;                  /* number of values */
	const char **keys;
	const cJSON **vals;     /* per key: the array of values */
};

struct sweep {
	const char *file;
	cJSON *canon;           /* base inline, vary, zip, seeds: stored as DIR/sweep.json */
	char *canon_text;
	const cJSON *base;      /* inside canon */
	int ndims;
	struct dim *dims;
	long *stride;           /* per dim */
	int nkeys;
	const char **keys;      /* all varied keys, columns in this order */
	int *key_dim, *key_pos;
	long npoints;
	int nseeds;
	uint64_t *seeds;
	double timeout_s;
};


/* Reads a sweep file (or a DIR/sweep.json, which is one with the base inline).
 * Returns 0, or 2 with the message in msg. */
int sweep_load(struct sweep *sw, const char *file, char *msg, size_t msgn);
void sweep_free(struct sweep *sw);
/* The value of varied key k at point p. */
const cJSON *point_value(const struct sweep *sw, long p, int k);
/* A varied value as text: strings bare, numbers in sweep_fmt_num, else JSON. */
void value_text(const cJSON *v, char *out, size_t n);
/* "scheduler.policy=\"gang\", vms[0].vcpus=4" for messages. */
void point_label(const struct sweep *sw, long p, char *out, size_t n);
/* The scenario of point p with the given seed (caller frees), or NULL with why. */
cJSON *point_scenario(const struct sweep *sw, long p, uint64_t seed, char *why, size_t whyn);
/* The file stem of run r (point r / nseeds, seed r % nseeds) in DIR/runs/. */
void run_name(const struct sweep *sw, long run, char *out, size_t n);

/* ---- tables.c: results.csv and summary.csv */
enum { VM_NMETRICS = 11, VM_ALWAYS = 5, TOP_NMETRICS = 7, TOP_STOPPED = 1, TOP_OVERCOMMIT = 2 };
struct column {
	int vm;                 /* index in outputs.vmnames, or -1 for a top metric */
	int metric;             /* index in vm_metrics or top_metrics */
	char name[300];
};

/* The metrics of one run, taken out of its results JSON (which is then freed, so
 * a sweep of 10^5 runs needs megabytes, not gigabytes). */
struct vmvals {
	int vm;
	unsigned char has[VM_NMETRICS];
	double m[VM_NMETRICS];
};
struct runvals {
	int nvm;
	struct vmvals *vm;
	unsigned char has[TOP_NMETRICS];
	double top[TOP_NMETRICS];
};

enum run_state { RS_MISSING, RS_OK, RS_FAILED };

struct outputs {
	long nrun;
	struct runvals *vals;   /* per run (selected and ok) */
	enum run_state *state;
	int nvm, vmcap;
	char **vmnames;         /* VMs by first appearance over the runs in order */
	unsigned *seen;         /* per VM: bit m set when some run reports vm_metrics[m] */
	int ncols;
	struct column *cols;
	long ok, failed, missing;
};

/* Checks that a run's output looks like a results document; returns NULL or why. */
const char *results_problem(const cJSON *doc);
/* Whether path is a regular file (not a symlink) holding a results document: a
 * run done. A truncated or corrupt one is not, so a resumed sweep runs it again. */
int result_file_ok(const char *path);
/* Writes DIR/results.csv and DIR/summary.csv from DIR/runs/ for the selected runs
 * (sel NULL = all). Returns 0, or 1 on an I/O failure (message printed). */
int write_outputs(const struct sweep *sw, const char *dir, const unsigned char *sel,
		  struct outputs *o);
void outputs_free(struct outputs *o);
/* Says how many runs failed or are missing; returns the exit code (0 or 1). */
int report_outputs(const struct outputs *o, const char *dir);

/* ---- pool.c: processes */
extern volatile sig_atomic_t sweep_stop;   /* the signal that interrupts the sweep */
struct job {
	long idx;
	double start;
	int timed_out;
	int validate;           /* `validate SCEN` rather than `run SCEN -o OUT` */
	char scen[PATH_MAX], out[PATH_MAX], err[PATH_MAX];
};

struct pool {
	int jobs;
	double timeout_s;
	const char *runner;     /* VCPUSIM_SWEEP_RUNNER: one process of it per task; NULL:
				 * long-lived workers running tasks in-process */
	/* fills j for task idx: 0 launch, -1 skip, other: stop with that code */
	int (*prepare)(void *ctx, long idx, struct job *j);
	/* a task ended (wait status): 0 go on, other: stop launching, return it */
	int (*done)(void *ctx, struct job *j, int status);
	void (*progress)(void *ctx, int running, int final);
	void *ctx;
};

/* Runs tasks 0..n-1, pl->jobs at a time. Returns 0, the first nonzero code of a
 * callback, or 128+signal when interrupted (its runs are killed, not recorded). */
int pool_run(struct pool *pl, long n);
/* Why a process ended badly, or NULL if it exited 0. */
const char *status_text(int st, int timed_out, double timeout_s, char *buf, size_t n);
/* The first line of a file (a run's stderr), without a trailing newline. */
void first_line(const char *path, char *out, size_t n);
void install_signals(struct sigaction *old);
void restore_signals(const struct sigaction *old);

/* ---- command.c: the output directory */
/* Whether DIR can hold this sweep: 0 new or empty, 1 holds this very sweep, 2
 * refused (message printed). Changes nothing. */
int check_dir(const char *dir, const struct sweep *sw, const char *src);
/* Creates DIR and DIR/runs, removes dead processes' partial files, writes sweep.json. */
int make_dir(const char *dir, const struct sweep *sw);

/* ---- merge.c */
int do_merge(char **dirs, int ndirs, const char *out);

#endif
