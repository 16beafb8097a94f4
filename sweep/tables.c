/* tables.c: DIR/results.csv (a row a run) and DIR/summary.csv (n, mean, sd, 95% CI
 * per point and metric), built from the run results in DIR/runs/. */
#include "sweep/internal.h"
#include "sim/jparse.h"
#include <gsl/gsl_cdf.h>
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

/* Whether a text cell would be read as a formula by a spreadsheet: it starts with
 * = + - @ tab or carriage return (OWASP, "CSV Injection") and is not a number. */
static int formula_like(const char *s)
{
	if (!*s || !strchr("=+-@\t\r", *s))
		return 0;
	char *end;
	double v = strtod(s, &end);
	return *end || !isfinite(v);
}

void sweep_csv_field(struct sbuf *b, const char *s)
{
	int neutral = formula_like(s);
	if (!neutral && !strpbrk(s, ",\"\r\n")) {
		sb_puts(b, s);
		return;
	}
	/* OWASP: a leading apostrophe, and the field in double quotes */
	sb_add(b, neutral ? "\"'" : "\"", neutral ? 2 : 1);
	for (; *s; s++) {
		if (*s == '"')
			sb_add(b, "\"", 1);
		sb_add(b, s, 1);
	}
	sb_add(b, "\"", 1);
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

void sweep_stats(const double *x, int n, struct sweep_stats *st)
{
	st->n = n;
	st->mean = st->sd = st->ci95 = st->median = st->min = st->max = NAN;
	if (n < 1)
		return;
	double *v = malloc((size_t)n * sizeof *v);
	if (v) {
		memcpy(v, x, (size_t)n * sizeof *v);
		qsort(v, (size_t)n, sizeof *v, cmp_double);
		st->min = v[0];
		st->max = v[n - 1];
		st->median = n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
		free(v);
	}
	double sum = 0;
	for (int i = 0; i < n; i++)
		sum += x[i];
	st->mean = sum / n;
	if (n < 2)
		return;
	double ss = 0;
	for (int i = 0; i < n; i++)
		ss += (x[i] - st->mean) * (x[i] - st->mean);
	st->sd = sqrt(ss / (n - 1));
	st->ci95 = gsl_cdf_tdist_Pinv(0.975, n - 1) * st->sd / sqrt((double)n);
}
/* Per-VM metrics: the column name and the dotted path into the VM's results. The
 * first VM_ALWAYS are columns for every VM (empty cells where null, e.g. an
 * unfinished completion); the others only for VMs some run reports them for. */
static const char *const vm_metrics[] = { "completion_ms", "cpu_ms", "work_ms", "spin_ms",
					  "long_waits", "work_rate", "cosched_ms", "mode_switches",
					  "requests", "wake_p99_us", "p2p_long_waits" };
static const char *const vm_metric_paths[] = { "completion_ms", "cpu_ms", "work_ms", "spin_ms",
					       "spin.long_waits", "work_rate", "cosched_ms", "mode_switches",
					       "requests", "wake_latency_us.p99", "p2p.long_waits" };

/* The value at a dotted path ("spin.long_waits") below o, or NULL. */
static const cJSON *dotted(const cJSON *o, const char *path)
{
	char key[64];
	while (o && *path) {
		size_t k = strcspn(path, ".");
		if (k >= sizeof key)
			return NULL;
		memcpy(key, path, k);
		key[k] = 0;
		o = cJSON_GetObjectItemCaseSensitive(o, key);
		path += k + (path[k] == '.');
	}
	return o;
}
/* Run metrics. stopped_at_max: 1 when the run ended at stop.max_ms rather than by
 * itself (its unfinished VMs' completions are censored: at least stop.max_ms);
 * overcommit: total vCPUs / pCPUs (issue 14 items 10 and 12). */
static const char *const top_metrics[] = { "sim_ms", "stopped_at_max", "overcommit",
					   "host.utilization",
					   "host.idle_with_runnable_ms",
					   "host.context_switches", "host.migrations" };

/* Checks that a run's output looks like a results document; returns NULL or why. */
const char *results_problem(const cJSON *doc)
{
	if (!cJSON_IsObject(doc))
		return "not a JSON object";
	const cJSON *vms = cJSON_GetObjectItemCaseSensitive(doc, "vms"), *v;
	if (!cJSON_IsArray(vms))
		return "no \"vms\" array";
	cJSON_ArrayForEach(v, vms) {
		if (!cJSON_IsString(cJSON_GetObjectItemCaseSensitive(v, "name")))
			return "a VM without a \"name\" string";
	}
	return NULL;
}

void outputs_free(struct outputs *o)
{
	for (long i = 0; o->vals && i < o->nrun; i++)
		free(o->vals[i].vm);
	free(o->vals);
	free(o->state);
	for (int i = 0; i < o->nvm; i++)
		free(o->vmnames[i]);
	free(o->vmnames);
	free(o->seen);
	free(o->cols);
}

static int get_num(const cJSON *v, double *out)
{
	if (!cJSON_IsNumber(v) || !isfinite(v->valuedouble))
		return 0;
	*out = v->valuedouble;
	return 1;
}

int result_file_ok(const char *path)
{
	struct stat st;
	if (lstat(path, &st) < 0 || !S_ISREG(st.st_mode))
		return 0;
	struct jp jp;
	jp_init(&jp, path);
	cJSON *doc = jp_load_file(&jp, path);
	int ok = doc && !results_problem(doc);
	cJSON_Delete(doc);
	return ok;
}

/* Takes the metrics out of a results document. Returns 0 or -1 (out of memory). */
static int extract(struct outputs *o, const cJSON *doc, struct runvals *rv)
{
	const cJSON *host = cJSON_GetObjectItemCaseSensitive(doc, "host");
	for (int i = 0; i < TOP_NMETRICS; i++) {
		const char *m = top_metrics[i];
		const cJSON *v = !strncmp(m, "host.", 5) ? cJSON_GetObjectItemCaseSensitive(host, m + 5)
							 : cJSON_GetObjectItemCaseSensitive(doc, m);
		if (i == TOP_STOPPED) {
			rv->has[i] = cJSON_IsBool(v);
			rv->top[i] = cJSON_IsTrue(v);
		} else if (i == TOP_OVERCOMMIT) {
			double vc = 0, pc = 0, x;
			const cJSON *vm;
			cJSON_ArrayForEach(vm, cJSON_GetObjectItemCaseSensitive(doc, "vms"))
				if (get_num(cJSON_GetObjectItemCaseSensitive(vm, "vcpus"), &x))
					vc += x;
			rv->has[i] = get_num(cJSON_GetObjectItemCaseSensitive(host, "pcpus"), &pc) &&
				     pc > 0;
			rv->top[i] = rv->has[i] ? vc / pc : 0;
		} else {
			rv->has[i] = (unsigned char)get_num(v, &rv->top[i]);
		}
	}
	const cJSON *vms = cJSON_GetObjectItemCaseSensitive(doc, "vms"), *v;
	rv->vm = calloc((size_t)cJSON_GetArraySize(vms) + 1, sizeof *rv->vm);
	if (!rv->vm)
		return -1;
	cJSON_ArrayForEach(v, vms) {
		const char *vn = cJSON_GetObjectItemCaseSensitive(v, "name")->valuestring;
		int i = 0;
		while (i < o->nvm && strcmp(o->vmnames[i], vn))
			i++;
		if (i == o->nvm) {
			if (o->nvm == o->vmcap) {
				int nc = o->vmcap ? o->vmcap * 2 : 16;
				char **nn = realloc(o->vmnames, (size_t)nc * sizeof *nn);
				if (nn)
					o->vmnames = nn;
				unsigned *cs = realloc(o->seen, (size_t)nc * sizeof *cs);
				if (cs)
					o->seen = cs;
				if (!nn || !cs)
					return -1;
				o->vmcap = nc;
			}
			if (!(o->vmnames[o->nvm] = strdup(vn)))
				return -1;
			o->seen[o->nvm++] = 0;
		}
		struct vmvals *x = &rv->vm[rv->nvm++];
		x->vm = i;
		for (int m = 0; m < VM_NMETRICS; m++) {
			x->has[m] = (unsigned char)get_num(dotted(v, vm_metric_paths[m]), &x->m[m]);
			if (x->has[m])
				o->seen[i] |= 1u << m;
		}
	}
	return 0;
}

/* The column's value in a run: 1 and *out if it has a number, else 0. */
static int column_value(const struct column *c, const struct runvals *rv, double *out)
{
	if (c->vm < 0) {
		*out = rv->top[c->metric];
		return rv->has[c->metric];
	}
	for (int j = 0; j < rv->nvm; j++)
		if (rv->vm[j].vm == c->vm) {
			*out = rv->vm[j].m[c->metric];
			return rv->vm[j].has[c->metric];
		}
	return 0;
}

/* Writes DIR/results.csv and DIR/summary.csv from DIR/runs/ for the selected runs
 * (sel NULL = all). Returns 0, or 1 on an I/O failure (message printed). */
int write_outputs(const struct sweep *sw, const char *dir, const unsigned char *sel,
			 struct outputs *o)
{
	memset(o, 0, sizeof *o);
	long nruns = sw->npoints * sw->nseeds;
	o->nrun = nruns;
	o->vals = calloc((size_t)nruns, sizeof *o->vals);
	o->state = calloc((size_t)nruns, sizeof *o->state);
	if (!o->vals || !o->state) {
		fprintf(stderr, "vcpusim sweep: out of memory\n");
		return 1;
	}
	char path[PATH_MAX], name[64];
	for (long r = 0; r < nruns; r++) {
		if (sel && !sel[r / sw->nseeds])
			continue;
		run_name(sw, r, name, sizeof name);
		sfmt(path, sizeof path, "%s/runs/%s.json", dir, name);
		struct jp jp;
		jp_init(&jp, path);
		cJSON *doc = file_exists(path) ? jp_load_file(&jp, path) : NULL;
		if (doc && !results_problem(doc)) {
			o->state[r] = RS_OK;
			o->ok++;
			int bad = extract(o, doc, &o->vals[r]);
			cJSON_Delete(doc);
			if (bad) {
				fprintf(stderr, "vcpusim sweep: out of memory\n");
				return 1;
			}
		} else {
			cJSON_Delete(doc);
			sfmt(path, sizeof path, "%s/runs/%s.failed", dir, name);
			o->state[r] = file_exists(path) ? RS_FAILED : RS_MISSING;
			if (o->state[r] == RS_FAILED)
				o->failed++;
			else
				o->missing++;
		}
	}
	o->cols = calloc((size_t)(TOP_NMETRICS + VM_NMETRICS * o->nvm), sizeof *o->cols);
	if (!o->cols) {
		fprintf(stderr, "vcpusim sweep: out of memory\n");
		return 1;
	}
	for (int i = 0; i < TOP_NMETRICS; i++) {
		struct column *c = &o->cols[o->ncols++];
		c->vm = -1;
		c->metric = i;
		sfmt(c->name, sizeof c->name, "%s", top_metrics[i]);
	}
	for (int i = 0; i < o->nvm; i++)
		for (int m = 0; m < VM_NMETRICS; m++) {
			if (m >= VM_ALWAYS && !(o->seen[i] & (1u << m)))
				continue;
			struct column *c = &o->cols[o->ncols++];
			c->vm = i;
			c->metric = m;
			sfmt(c->name, sizeof c->name, "%s.%s", o->vmnames[i], vm_metrics[m]);
		}

	struct sbuf res = { 0 }, sum = { 0 };
	char num[64], val[512];
	/* results.csv */
	sb_puts(&res, "point");
	for (int k = 0; k < sw->nkeys; k++) {
		sb_puts(&res, ",");
		sweep_csv_field(&res, sw->keys[k]);
	}
	sb_puts(&res, ",replicate,seed,run,status");
	for (int c = 0; c < o->ncols; c++) {
		sb_puts(&res, ",");
		sweep_csv_field(&res, o->cols[c].name);
	}
	sb_puts(&res, "\n");
	static const char *const st_names[] = { "missing", "ok", "failed" };
	for (long r = 0; r < nruns; r++) {
		long p = r / sw->nseeds;
		if (sel && !sel[p])
			continue;
		sb_printf(&res, "%ld", p);
		for (int k = 0; k < sw->nkeys; k++) {
			value_text(point_value(sw, p, k), val, sizeof val);
			sb_puts(&res, ",");
			sweep_csv_field(&res, val);
		}
		run_name(sw, r, name, sizeof name);
		sb_printf(&res, ",%ld,%llu,%s,%s", r % sw->nseeds,
			  (unsigned long long)sw->seeds[r % sw->nseeds], name, st_names[o->state[r]]);
		for (int c = 0; c < o->ncols; c++) {
			double x;
			sb_puts(&res, ",");
			if (o->state[r] == RS_OK && column_value(&o->cols[c], &o->vals[r], &x)) {
				sweep_fmt_num(num, sizeof num, x);
				sb_puts(&res, num);
			}
		}
		sb_puts(&res, "\n");
	}

	/* summary.csv */
	sb_puts(&sum, "point");
	for (int k = 0; k < sw->nkeys; k++) {
		sb_puts(&sum, ",");
		sweep_csv_field(&sum, sw->keys[k]);
	}
	sb_puts(&sum, ",metric,runs,n,mean,sd,ci95,median,min,max,censored\n");
	double *xs = malloc((size_t)sw->nseeds * sizeof *xs);
	for (long p = 0; xs && p < sw->npoints; p++) {
		if (sel && !sel[p])
			continue;
		struct sbuf pre = { 0 };
		sb_printf(&pre, "%ld", p);
		for (int k = 0; k < sw->nkeys; k++) {
			value_text(point_value(sw, p, k), val, sizeof val);
			sb_puts(&pre, ",");
			sweep_csv_field(&pre, val);
		}
		for (int c = 0; c < o->ncols; c++) {
			int n = 0, censored = 0;
			for (int s = 0; s < sw->nseeds; s++) {
				long r = p * sw->nseeds + s;
				if (o->state[r] != RS_OK)
					continue;
				if (column_value(&o->cols[c], &o->vals[r], &xs[n]))
					n++;
				else if (o->vals[r].has[TOP_STOPPED] && o->vals[r].top[TOP_STOPPED])
					censored++; /* no value because the run was cut */
			}
			struct sweep_stats st;
			sweep_stats(xs, n, &st);
			sb_puts(&sum, pre.p ? pre.p : "");
			sb_puts(&sum, ",");
			sweep_csv_field(&sum, o->cols[c].name);
			sb_printf(&sum, ",%d,%d", sw->nseeds, n);
			double f[6] = { st.mean, st.sd, st.ci95, st.median, st.min, st.max };
			for (int i = 0; i < 6; i++) {
				sb_puts(&sum, ",");
				if (isnan(f[i]))
					continue;
				if (i < 3) /* 15 digits: computed, not measured */
					sfmt(num, sizeof num, "%.15g", f[i] == 0 ? 0 : f[i]);
				else       /* values of runs (or the mean of two): exact */
					sweep_fmt_num(num, sizeof num, f[i]);
				sb_puts(&sum, num);
			}
			sb_printf(&sum, ",%d\n", censored);
		}
		sb_free(&pre);
	}
	int rc = 0;
	if (!xs || res.oom || sum.oom) {
		fprintf(stderr, "vcpusim sweep: out of memory\n");
		rc = 1;
	}
	char rp[PATH_MAX], sp[PATH_MAX];
	sfmt(rp, sizeof rp, "%s/results.csv", dir);
	sfmt(sp, sizeof sp, "%s/summary.csv", dir);
	if (!rc && (sweep_write_file(rp, res.p, res.len) < 0 ||
		    sweep_write_file(sp, sum.p, sum.len) < 0)) {
		fprintf(stderr, "vcpusim sweep: cannot write %s: %s\n", dir, strerror(errno));
		rc = 1;
	}
	free(xs);
	sb_free(&res);
	sb_free(&sum);
	return rc;
}

int report_outputs(const struct outputs *o, const char *dir)
{
	if (o->failed)
		fprintf(stderr, "vcpusim sweep: %ld of %ld runs failed (reasons in %s/runs/*.failed); "
				"run the same command again to retry them\n",
			o->failed, o->ok + o->failed + o->missing, dir);
	if (o->missing)
		fprintf(stderr, "vcpusim sweep: %ld of %ld runs are missing from %s\n", o->missing,
			o->ok + o->failed + o->missing, dir);
	return o->failed || o->missing ? 1 : 0;
}
