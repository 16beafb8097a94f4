/* plot.c: `vcpusim plot DIR`: gnuplot figures (PNG and SVG) from a sweep's output
 * directory (sweep/): grouped bars with 95% CI error bars, lines of a metric
 * against a numeric varied key (or the overcommit ratio), and the spinlock wait
 * histogram per group. Reads DIR/results.csv and, for the histogram and the
 * overcommit ratio, the runs' JSON in DIR/runs/. Writes PLOTDIR/KIND.{png,svg}
 * with the .dat and .gp files that made them (rerun `gnuplot KIND.gp` there to
 * tweak). The gnuplot templates are plots/KIND.gp, compiled in. */
#include <stddef.h>
#include "sim/cli.h"
#include "sim/jparse.h"
#include "sweep/sweep.h"
#include "plots/gp_quote.h"
#include "plots/plot.h"
#include "sim/outfile.h"
#include <cjson/cJSON.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

struct plot_template {
	const char *name, *text;
};
extern const struct plot_template plot_templates[]; /* generated from plots/KIND.gp */

static const char *template_text(const char *name)
{
	for (int i = 0; plot_templates[i].name; i++)
		if (!strcmp(plot_templates[i].name, name))
			return plot_templates[i].text;
	return NULL;
}

static void sfmt(char *out, size_t n, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void sfmt(char *out, size_t n, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(out, n, fmt, ap);
	va_end(ap);
}

/* ---------------------------------------------------------------- results.csv */

struct csv {
	int ncols;
	char **head;
	int nrows;
	char ***rows;           /* nrows x ncols */
	int *line;              /* line number of each row */
};

static void csv_free(struct csv *c)
{
	for (int i = 0; i < c->ncols; i++)
		free(c->head[i]);
	free(c->head);
	for (int r = 0; r < c->nrows; r++) {
		for (int i = 0; i < c->ncols; i++)
			free(c->rows[r][i]);
		free(c->rows[r]);
	}
	free(c->rows);
	free(c->line);
	memset(c, 0, sizeof *c);
}

/* Parses one record starting at *pp; returns the fields (count in *n) or NULL
 * with why set. */
static char **csv_record(const char **pp, int *n, int *line, const char **why)
{
	const char *p = *pp;
	int cap = 16, cnt = 0;
	char **f = malloc((size_t)cap * sizeof *f);
	struct sbuf b = { 0 };
	if (!f) {
		*why = "out of memory";
		return NULL;
	}
	for (;;) {
		sb_free(&b);
		sb_add(&b, "", 0);
		if (*p == '"') {
			p++;
			for (;;) {
				if (!*p) {
					*why = "unterminated quoted field";
					goto fail;
				}
				if (*p == '"' && p[1] == '"') {
					sb_add(&b, "\"", 1);
					p += 2;
				} else if (*p == '"') {
					p++;
					break;
				} else {
					*line += *p == '\n';
					sb_add(&b, p++, 1);
				}
			}
			if (*p && *p != ',' && *p != '\n' && *p != '\r') {
				*why = "text after a closing quote";
				goto fail;
			}
		} else {
			size_t k = strcspn(p, ",\n\r\"");
			if (p[k] == '"') {
				*why = "a quote inside an unquoted field";
				goto fail;
			}
			sb_add(&b, p, k);
			p += k;
		}
		if (b.oom) {
			*why = "out of memory";
			goto fail;
		}
		if (cnt == cap) {
			char **nf = realloc(f, (size_t)(cap *= 2) * sizeof *f);
			if (!nf) {
				*why = "out of memory";
				goto fail;
			}
			f = nf;
		}
		f[cnt++] = b.p;
		b.p = NULL;
		b.len = b.cap = 0;
		if (*p == ',') {
			p++;
			continue;
		}
		if (*p == '\r')
			p++;
		if (*p == '\n') {
			p++;
			(*line)++;
		}
		break;
	}
	*pp = p;
	*n = cnt;
	return f;
fail:
	sb_free(&b);
	for (int i = 0; i < cnt; i++)
		free(f[i]);
	free(f);
	return NULL;
}

/* Loads a CSV file; returns 0, or 2 with msg naming the file and line. */
static int csv_load(const char *path, struct csv *c, char *msg, size_t msgn)
{
	memset(c, 0, sizeof *c);
	/* bounded, and a directory or /dev/zero says so (issue 13, items 9 and 14) */
	const char *rwhy = NULL;
	char *text = jp_read_file(path, (size_t)1 << 30, NULL, &rwhy);
	if (!text) {
		sfmt(msg, msgn, "%s: %s%s", path, rwhy, strstr(rwhy, "too large") ? " (more than 1 GiB)" : "");
		return 2;
	}
	const char *p = text, *why = NULL;
	int line = 1, n, cap = 0;
	c->head = csv_record(&p, &c->ncols, &line, &why);
	if (!c->head || !c->ncols || (c->ncols == 1 && !c->head[0][0])) {
		sfmt(msg, msgn, "%s: line 1: %s", path, why ? why : "empty file, expected a header");
		free(text);
		csv_free(c);
		return 2;
	}
	while (*p) {
		int at = line;
		char **f = csv_record(&p, &n, &line, &why);
		if (!f) {
			sfmt(msg, msgn, "%s: line %d: %s", path, at, why);
			goto fail;
		}
		if (n != c->ncols) {
			sfmt(msg, msgn, "%s: line %d: %d fields, expected %d as in the header", path, at,
			     n, c->ncols);
			for (int i = 0; i < n; i++)
				free(f[i]);
			free(f);
			goto fail;
		}
		if (c->nrows == cap) {
			cap = cap ? cap * 2 : 64;
			char ***nr = realloc(c->rows, (size_t)cap * sizeof *nr);
			int *nl = realloc(c->line, (size_t)cap * sizeof *nl);
			if (nr)
				c->rows = nr;
			if (nl)
				c->line = nl;
			if (!nr || !nl) {
				sfmt(msg, msgn, "%s: out of memory", path);
				for (int i = 0; i < n; i++)
					free(f[i]);
				free(f);
				goto fail;
			}
		}
		c->line[c->nrows] = at;
		c->rows[c->nrows++] = f;
	}
	free(text);
	return 0;
fail:
	free(text);
	csv_free(c);
	return 2;
}

static int col_index(const struct csv *c, const char *name)
{
	for (int i = 0; i < c->ncols; i++)
		if (!strcmp(c->head[i], name))
			return i;
	return -1;
}

static int parse_num(const char *s, double *out)
{
	char *end;
	if (!*s)
		return 0;
	errno = 0;
	double v = strtod(s, &end);
	if (*end || errno == ERANGE || !isfinite(v))
		return 0;
	*out = v;
	return 1;
}

/* ---------------------------------------------------------------- the plot */

struct opts {
	const char *dir, *out, *kind, *x, *group, *y, *norm, *vm;
	const char *title, *xlabel, *ylabel;   /* the user's, instead of the derived ones */
	int logy, pdf;          /* --logy: log y axis; --pdf: also KIND.pdf (pdfcairo) */
	int nwhere;
	char **where;           /* KEY=VALUE */
};

struct results {
	struct csv c;
	int nkeys;              /* varied keys are columns 1..nkeys */
	int c_status, c_run, c_first_metric;
	char path[PATH_MAX];
	/* derived per row: total vCPUs / pCPUs from the run's JSON, NaN if unknown */
	double *overcommit;
};

static void results_free(struct results *r)
{
	free(r->overcommit);
	csv_free(&r->c);
}

static int results_load(const char *dir, struct results *r, char *msg, size_t msgn)
{
	memset(r, 0, sizeof *r);
	struct stat st;
	if (stat(dir, &st) < 0 || !S_ISDIR(st.st_mode)) {
		sfmt(msg, msgn, "%s: not a directory (expected a sweep's output directory)", dir);
		return 2;
	}
	sfmt(r->path, sizeof r->path, "%s/results.csv", dir);
	if (stat(r->path, &st) < 0) {
		sfmt(msg, msgn, "%s: no results.csv: not a sweep's output directory (made by "
				"`vcpusim sweep SWEEP.json -o DIR`)", dir);
		return 2;
	}
	if (csv_load(r->path, &r->c, msg, msgn))
		return 2;
	struct csv *c = &r->c;
	int rep = col_index(c, "replicate");
	r->c_status = col_index(c, "status");
	r->c_run = col_index(c, "run");
	if (strcmp(c->head[0], "point") || rep < 1 || rep + 3 >= c->ncols ||
	    strcmp(c->head[rep + 1], "seed") || r->c_run != rep + 2 || r->c_status != rep + 3) {
		sfmt(msg, msgn, "%s: line 1: expected the header point,<varied keys>,replicate,seed,"
				"run,status,<metrics>", r->path);
		return 2;
	}
	r->nkeys = rep - 1;
	r->c_first_metric = rep + 4;
	for (int i = 0; i < c->nrows; i++) {
		char **f = c->rows[i];
		double v;
		if (!parse_num(f[0], &v) || v < 0 || v != floor(v)) {
			sfmt(msg, msgn, "%s: line %d: point: expected an integer >= 0, got \"%s\"",
			     r->path, c->line[i], f[0]);
			return 2;
		}
		if (strcmp(f[r->c_status], "ok") && strcmp(f[r->c_status], "failed") &&
		    strcmp(f[r->c_status], "missing")) {
			sfmt(msg, msgn, "%s: line %d: status: expected ok, failed or missing, got \"%s\"",
			     r->path, c->line[i], f[r->c_status]);
			return 2;
		}
		if (strchr(f[r->c_run], '/') || !f[r->c_run][0]) {
			sfmt(msg, msgn, "%s: line %d: run: expected a run name, got \"%s\"", r->path,
			     c->line[i], f[r->c_run]);
			return 2;
		}
		for (int k = r->c_first_metric; k < c->ncols; k++)
			if (f[k][0] && !parse_num(f[k], &v)) {
				sfmt(msg, msgn, "%s: line %d: %s: expected a number or nothing, got \"%s\"",
				     r->path, c->line[i], c->head[k], f[k]);
				return 2;
			}
	}
	r->overcommit = calloc((size_t)c->nrows + 1, sizeof *r->overcommit);
	if (!r->overcommit) {
		sfmt(msg, msgn, "out of memory");
		return 1;
	}
	for (int i = 0; i < c->nrows; i++)
		r->overcommit[i] = NAN;
	return 0;
}

/* The run's results JSON (ok rows only; the caller frees it, so runs are held one
 * at a time); NULL with msg on failure. */
static cJSON *row_doc(struct results *r, const char *dir, int i, char *msg, size_t msgn)
{
	char path[PATH_MAX];
	sfmt(path, sizeof path, "%s/runs/%s.json", dir, r->c.rows[i][r->c_run]);
	struct jp jp;
	jp_init(&jp, path);
	cJSON *d = jp_load_file(&jp, path);
	if (!d) {
		sfmt(msg, msgn, "%s (the run of %s line %d)", jp.msg, r->path, r->c.line[i]);
		return NULL;
	}
	if (!cJSON_IsObject(d) || !cJSON_IsArray(cJSON_GetObjectItemCaseSensitive(d, "vms"))) {
		sfmt(msg, msgn, "%s: expected a results object with a \"vms\" array", path);
		cJSON_Delete(d);
		return NULL;
	}
	return d;
}

static int is_ok(const struct results *r, int i)
{
	return !strcmp(r->c.rows[i][r->c_status], "ok");
}

static int key_col(const struct results *r, const char *key)
{
	for (int k = 1; k <= r->nkeys; k++)
		if (!strcmp(r->c.head[k], key))
			return k;
	return -1;
}

/* --group KEY1+KEY2...: a column appended to the table whose value is the keys'
 * values joined by "/" (e.g. asman/all for policy and guest.monitor), so that
 * variants told apart by two keys get their own group. Returns its index, -1
 * if a key is not varied, -3 out of memory. */
static int combo_col(struct results *r, const char *spec)
{
	int keys[16], n = 0;
	char buf[512];
	sfmt(buf, sizeof buf, "%s", spec);
	for (char *save = NULL, *k = strtok_r(buf, "+", &save); k; k = strtok_r(NULL, "+", &save)) {
		if (n == 16 || (keys[n] = key_col(r, k)) < 0)
			return -1;
		n++;
	}
	struct csv *c = &r->c;
	char **head = realloc(c->head, (size_t)(c->ncols + 1) * sizeof *head);
	if (!head)
		return -3;
	c->head = head;
	if (!(c->head[c->ncols] = strdup(spec)))
		return -3;
	for (int i = 0; i < c->nrows; i++) {
		char **row = realloc(c->rows[i], (size_t)(c->ncols + 1) * sizeof *row);
		if (!row)
			return -3;
		c->rows[i] = row;
		struct sbuf v = { 0 };
		for (int k = 0; k < n; k++) {
			sb_puts(&v, k ? "/" : "");
			sb_puts(&v, row[keys[k]]);
		}
		if (v.oom || !v.p)
			return -3;
		row[c->ncols] = v.p;
	}
	/* every row has the column before ncols counts it, for csv_free */
	return c->ncols++;
}

/* Which rows take part: ok and matching every --where. */
static int select_rows(struct results *r, const struct opts *o, unsigned char *use, char *msg,
		       size_t msgn)
{
	int cols[64];
	const char *vals[64];
	if (o->nwhere > 64) {
		sfmt(msg, msgn, "at most 64 --where filters");
		return 2;
	}
	for (int w = 0; w < o->nwhere; w++) {
		const char *eq = strchr(o->where[w], '=');
		char key[512];
		sfmt(key, sizeof key, "%.*s", eq ? (int)(eq - o->where[w]) : 0, o->where[w]);
		cols[w] = eq ? key_col(r, key) : -1;
		vals[w] = eq ? eq + 1 : "";
		if (cols[w] < 0) {
			sfmt(msg, msgn, "--where %s: expected KEY=VALUE with KEY a varied key of %s",
			     o->where[w], r->path);
			return 2;
		}
	}
	int n = 0;
	for (int i = 0; i < r->c.nrows; i++) {
		use[i] = is_ok(r, i);
		for (int w = 0; w < o->nwhere && use[i]; w++)
			use[i] = !strcmp(r->c.rows[i][cols[w]], vals[w]);
		n += use[i];
	}
	if (!n) {
		sfmt(msg, msgn, "%s: no successful run%s to plot", r->path,
		     o->nwhere ? " matches the --where filters" : "");
		return 2;
	}
	return 0;
}

/* Distinct values of a column among the used rows, in order of appearance. */
static int distinct(const struct results *r, int col, const unsigned char *use, const char **out)
{
	int n = 0;
	for (int i = 0; i < r->c.nrows; i++) {
		if (!use[i])
			continue;
		const char *v = r->c.rows[i][col];
		int j = 0;
		while (j < n && strcmp(out[j], v))
			j++;
		if (j == n)
			out[n++] = v;
	}
	return n;
}

static int all_numeric(const char **v, int n)
{
	double d;
	for (int i = 0; i < n; i++)
		if (!parse_num(v[i], &d))
			return 0;
	return 1;
}

/* A readable axis label for a metric column, with its unit. */
static void metric_label(const char *col, char *out, size_t n)
{
	static const char *const names[][2] = {
		{ "completion_ms", "completion time (ms)" },
		{ "cpu_ms", "CPU time (ms)" },
		{ "work_ms", "useful work (ms of CPU)" },
		{ "work_rate", "throughput (useful pCPUs: work per simulated second)" },
		{ "wake_p99_us", "wake-to-run latency, 99th percentile (us)" },
		{ "requests", "requests served" },
		{ "spin_ms", "spin time (ms of CPU)" },
		{ "long_waits", "long spinlock waits (count)" },
		{ "cosched_ms", "coscheduled time (ms)" },
		{ "sim_ms", "simulated time (ms)" },
		{ "utilization", "utilization (fraction of pCPU time)" },
		{ "idle_with_runnable_ms", "pCPU idle time with runnable vCPUs waiting (ms)" },
		{ "context_switches", "context switches (count)" },
		{ "migrations", "vCPU migrations (count)" },
	};
	const char *dot = strrchr(col, '.');
	const char *m = dot ? dot + 1 : col;
	for (size_t i = 0; i < sizeof names / sizeof *names; i++)
		if (!strcmp(m, names[i][0])) {
			if (dot)
				sfmt(out, n, "%.*s %s", (int)(dot - col), col, names[i][1]);
			else
				sfmt(out, n, "%s", names[i][1]);
			return;
		}
	sfmt(out, n, "%s", col);
}

/* A varied key as an axis label, with a unit where the key says it. */
static void key_label(const char *key, char *out, size_t n)
{
	static const char *const units[][2] = {
		{ ".pcpus", "pCPUs" }, { ".vcpus", "vCPUs per VM" }, { ".count", "VMs" },
		{ "_ms", "ms" }, { "_us", "us" }, { "_ns", "ns" }, { "ghz", "GHz" },
		{ "_cycles", "cycles" },
	};
	if (!strcmp(key, "overcommit")) {
		sfmt(out, n, "overcommit ratio (total vCPUs / pCPUs)");
		return;
	}
	size_t kl = strlen(key);
	for (size_t i = 0; i < sizeof units / sizeof *units; i++) {
		size_t ul = strlen(units[i][0]);
		if (kl >= ul && !strcmp(key + kl - ul, units[i][0])) {
			sfmt(out, n, "%s (%s)", key, units[i][1]);
			return;
		}
	}
	sfmt(out, n, "%s", key);
}

/* gnuplot string literal: plots/gp_quote.h (the one escaping function) */
static void gp_str(struct sbuf *b, const char *s)
{
	char *q = gp_quote(s);
	if (!q) {
		b->oom = 1;
		return;
	}
	sb_puts(b, q);
	free(q);
}

/* a data field: tabs and line breaks would break the row */
static void dat_field(struct sbuf *b, const char *s)
{
	for (; *s; s++)
		sb_add(b, *s == '\t' || *s == '\n' || *s == '\r' ? " " : s, 1);
}

static void dat_num(struct sbuf *b, double v)
{
	char num[64];
	if (isnan(v))
		sb_puts(b, "?");
	else {
		sfmt(num, sizeof num, "%.10g", v);
		sb_puts(b, num);
	}
}

/* ---------------------------------------------------------------- staging */

/* Every figure of one `vcpusim plot` is made in a private directory inside
 * PLOTDIR (mkdtemp: mode 0700, a fresh name, so nothing planted there can
 * redirect gnuplot's writes) and moved into PLOTDIR only when all of them
 * succeeded: a failure midway leaves PLOTDIR as it was (issue 13, items 2, 13). */
static struct {
	char final[PATH_MAX], dir[PATH_MAX];
	const char *input;          /* a file read from PLOTDIR's neighbourhood (the trace) */
	char names[16][32];
	int n, active;
} stage;

static int stage_begin(const char *plotdir, const char *input)
{
	stage.n = 0;
	stage.input = input;
	sfmt(stage.final, sizeof stage.final, "%s", plotdir);
	sfmt(stage.dir, sizeof stage.dir, "%s/.vcpusim-plot-XXXXXX", plotdir);
	if (!mkdtemp(stage.dir)) {
		fprintf(stderr, "vcpusim plot: cannot write into %s: %s\n", plotdir, strerror(errno));
		return -1;
	}
	stage.active = 1;
	return 0;
}

static void stage_add(const char *name)
{
	if (stage.n < (int)(sizeof stage.names / sizeof *stage.names))
		sfmt(stage.names[stage.n++], sizeof stage.names[0], "%s", name);
}

static void stage_abort(void)
{
	char p[PATH_MAX];
	for (int i = 0; i < stage.n; i++) {
		sfmt(p, sizeof p, "%s/%s", stage.dir, stage.names[i]);
		unlink(p);
	}
	rmdir(stage.dir);
	stage.n = stage.active = 0;
}

/* Moves the figures into PLOTDIR; prints the images written. 0, or 1 (2 when
 * one would replace the input). */
static int stage_commit(void)
{
	char from[PATH_MAX], to[PATH_MAX];
	for (int i = 0; i < stage.n; i++) {
		sfmt(to, sizeof to, "%s/%s", stage.final, stage.names[i]);
		if (stage.input && same_file(to, stage.input)) {
			refuse_same("plot", to, stage.input);
			stage_abort();
			return 2;
		}
		struct stat sb;
		if (stat(to, &sb) == 0 && S_ISDIR(sb.st_mode)) {
			fprintf(stderr, "vcpusim plot: %s: is a directory: nothing written\n", to);
			stage_abort();
			return 1;
		}
	}
	for (int i = 0; i < stage.n; i++) {
		sfmt(from, sizeof from, "%s/%s", stage.dir, stage.names[i]);
		sfmt(to, sizeof to, "%s/%s", stage.final, stage.names[i]);
		if (rename(from, to) < 0) {
			fprintf(stderr, "vcpusim plot: %s: cannot write: %s\n", to, strerror(errno));
			stage_abort();
			return 1;
		}
	}
	for (int i = 0; i < stage.n; i++) {
		const char *dot = strrchr(stage.names[i], '.');
		if (dot && (!strcmp(dot, ".png") || !strcmp(dot, ".svg") || !strcmp(dot, ".pdf")))
			printf("%s/%s\n", stage.final, stage.names[i]);
	}
	stage.n = stage.active = 0;
	rmdir(stage.dir);
	return 0;
}

/* The figure options of this `vcpusim plot` (set by cmd_plot), or NULL. */
static const struct opts *style;

/* Writes KIND.dat and KIND.gp into the staging directory, runs gnuplot there. */
static int render(const char *finaldir, const char *kind, const struct sbuf *dat,
		  const char *title, const char *xlabel, const char *ylabel, const char *keytitle,
		  int ngroups, double refline, const char *extra_vars)
{
	char path[PATH_MAX];
	struct sbuf gp = { 0 };
	int logy = 0, pdf = 0;
	if (style) {   /* --title, --xlabel, --ylabel, --logy, --pdf */
		title = style->title ? style->title : title;
		xlabel = style->xlabel ? style->xlabel : xlabel;
		ylabel = style->ylabel ? style->ylabel : ylabel;
		logy = style->logy;
		pdf = style->pdf;
	}
	sb_printf(&gp, "# %s.gp: written by `vcpusim plot`; run `gnuplot %s.gp` here to redraw\n",
		  kind, kind);
	sb_printf(&gp, "logy = %d\npdf = %d\n", logy, pdf);
	sb_printf(&gp, "out = '%s'\ndata = '%s.dat'\nngroups = %d\nrefline = %g\ntitle = ", kind,
		  kind, ngroups, refline);
	gp_str(&gp, title);
	sb_puts(&gp, "\nxlabel = ");
	gp_str(&gp, xlabel);
	sb_puts(&gp, "\nylabel = ");
	gp_str(&gp, ylabel);
	sb_puts(&gp, "\nkeytitle = ");
	gp_str(&gp, keytitle);
	sb_puts(&gp, "\n");
	if (extra_vars)
		sb_puts(&gp, extra_vars);
	sb_puts(&gp, "\n");
	const char *common = template_text("common"), *body = template_text(kind);
	if (!common || !body) {
		fprintf(stderr, "vcpusim plot: internal error: no gnuplot template %s\n", kind);
		sb_free(&gp);
		return 1;
	}
	sb_puts(&gp, common);
	sb_puts(&gp, "\n");
	sb_puts(&gp, body);
	int rc = 0;
	const char *plotdir = stage.dir;
	char name[32];
	sfmt(name, sizeof name, "%s.dat", kind);
	stage_add(name);
	sfmt(name, sizeof name, "%s.gp", kind);
	stage_add(name);
	sfmt(path, sizeof path, "%s/%s.dat", plotdir, kind);
	if (gp.oom || dat->oom || sweep_write_file(path, dat->p, dat->len) < 0)
		rc = 1;
	sfmt(path, sizeof path, "%s/%s.gp", plotdir, kind);
	if (!rc && sweep_write_file(path, gp.p, gp.len) < 0)
		rc = 1;
	sb_free(&gp);
	if (rc) {
		fprintf(stderr, "vcpusim plot: cannot write %s: %s\n", path, strerror(errno));
		return 1;
	}

	char errpath[PATH_MAX], script[64];
	sfmt(errpath, sizeof errpath, "%s/.%s.gnuplot-stderr", plotdir, kind);
	sfmt(script, sizeof script, "%s.gp", kind);
	fflush(NULL);
	pid_t pid = fork();
	if (pid < 0) {
		fprintf(stderr, "vcpusim plot: cannot start gnuplot: %s\n", strerror(errno));
		return 1;
	}
	if (pid == 0) {
		int e = open(errpath, O_WRONLY | O_CREAT | O_TRUNC, 0644);
		int nul = open("/dev/null", O_RDWR);
		if (nul >= 0) {
			dup2(nul, 0);
			dup2(nul, 1);
		}
		if (e >= 0)
			dup2(e, 2);
		if (chdir(plotdir) < 0)
			_exit(126);
		execlp("gnuplot", "gnuplot", script, (char *)NULL);
		fprintf(stderr, "cannot execute gnuplot: %s (install gnuplot-nox: scripts/deps.sh)\n",
			strerror(errno));
		_exit(127);
	}
	int st;
	while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
		;
	char *err = sweep_read_file(errpath, NULL, NULL);
	unlink(errpath);
	int good = WIFEXITED(st) && WEXITSTATUS(st) == 0;
	char png[PATH_MAX], svg[PATH_MAX], pdfp[PATH_MAX], part[PATH_MAX];
	sfmt(png, sizeof png, "%s/%s.png", plotdir, kind);
	sfmt(svg, sizeof svg, "%s/%s.svg", plotdir, kind);
	sfmt(pdfp, sizeof pdfp, "%s/%s.pdf", plotdir, kind);
	int nout = pdf ? 3 : 2;
	for (int i = 0; i < nout && good; i++) {
		const char *f = i == 2 ? pdfp : i ? svg : png;
		struct stat sb;
		sfmt(part, sizeof part, "%s.part", f);
		if (stat(part, &sb) < 0 || sb.st_size == 0 || rename(part, f) < 0)
			good = 0;
		sfmt(name, sizeof name, "%s.%s", kind, i == 2 ? "pdf" : i ? "svg" : "png");
		stage_add(name);
	}
	if (!good) {
		fprintf(stderr, "vcpusim plot: gnuplot failed on %s/%s:\n%s%s", finaldir, script,
			err && *err ? err : "(no message)\n",
			logy ? "vcpusim plot: (--logy: a log axis shows only values above 0)\n" : "");
		free(err);
		for (int i = 0; i < nout; i++) {
			sfmt(part, sizeof part, "%s.part", i == 2 ? pdfp : i ? svg : png);
			unlink(part);
		}
		return 1;
	}
	/* gnuplot's warnings on a figure it drew are kept beside it, not passed
	 * through: one line says where (the templates avoid the known ones) */
	char logp[PATH_MAX];
	sfmt(logp, sizeof logp, "%s/%s.gnuplot.log", plotdir, kind);
	if (err && *err) {
		if (sweep_write_file(logp, err, strlen(err)) == 0) {
			sfmt(name, sizeof name, "%s.gnuplot.log", kind);
			stage_add(name);
			fprintf(stderr, "vcpusim plot: note: gnuplot warned while drawing %s: %s/%s\n",
				kind, finaldir, name);
		}
	} else {
		sfmt(logp, sizeof logp, "%s/%s.gnuplot.log", finaldir, kind);
		unlink(logp);   /* an old one beside the new figure would mislead */
	}
	free(err);
	return 0;
}

/* The metric column for y: an exact column, or a bare metric name (completion_ms)
 * meaning the first VM's column of that metric that has numbers. */
static int pick_y(const struct results *r, const char *y, const unsigned char *use)
{
	const struct csv *c = &r->c;
	if (y) {
		int k = col_index(c, y);
		if (k >= r->c_first_metric)
			return k;
	}
	const char *want[] = { y, "completion_ms", "work_ms", NULL };
	for (int w = y ? 0 : 1; want[w]; w++) {
		for (int k = r->c_first_metric; k < c->ncols; k++) {
			const char *dot = strrchr(c->head[k], '.');
			if (!dot || strcmp(dot + 1, want[w]))
				continue;
			for (int i = 0; i < c->nrows; i++)
				if (use[i] && c->rows[i][k][0])
					return k;
		}
		if (y)
			return -1;
	}
	return col_index(c, "sim_ms");
}

struct agg {
	int nx, ng;
	const char **xs, **gs;
	double *xnum;           /* numeric x (lines) */
	char (*oc)[32];         /* the overcommit ratios as text, when x is overcommit */
	struct sweep_stats *st; /* nx x ng */
};

static void agg_free(struct agg *a)
{
	free(a->xs);
	free(a->gs);
	free(a->xnum);
	free(a->oc);
	free(a->st);
}

/* Groups the used rows' y by (x, group); xcol -2 = overcommit, -1 = one x. */
static int aggregate(struct results *r, const char *dir, const unsigned char *use, int xcol,
		     int gcol, int ycol, struct agg *a, char *msg, size_t msgn)
{
	int nr = r->c.nrows;
	memset(a, 0, sizeof *a);
	a->xs = calloc((size_t)nr + 1, sizeof *a->xs);
	a->gs = calloc((size_t)nr + 1, sizeof *a->gs);
	a->xnum = calloc((size_t)nr + 1, sizeof *a->xnum);
	const char **xrow = calloc((size_t)nr + 1, sizeof *xrow);
	char (*oc)[32] = a->oc = calloc((size_t)nr + 1, sizeof *oc);
	double *vals = calloc((size_t)nr + 1, sizeof *vals);
	if (!a->xs || !a->gs || !a->xnum || !xrow || !oc || !vals) {
		sfmt(msg, msgn, "out of memory");
		goto fail;
	}
	for (int i = 0; i < nr; i++) {
		if (!use[i])
			continue;
		if (xcol == -2) {
			if (isnan(r->overcommit[i])) {
				cJSON *d = row_doc(r, dir, i, msg, msgn);
				if (!d)
					goto fail;
				double v = 0, p = 0;
				const cJSON *vm, *h = cJSON_GetObjectItemCaseSensitive(d, "host");
				cJSON_ArrayForEach(vm, cJSON_GetObjectItemCaseSensitive(d, "vms")) {
					const cJSON *n = cJSON_GetObjectItemCaseSensitive(vm, "vcpus");
					v += cJSON_IsNumber(n) ? n->valuedouble : 0;
				}
				const cJSON *pc = cJSON_GetObjectItemCaseSensitive(h, "pcpus");
				p = cJSON_IsNumber(pc) ? pc->valuedouble : 0;
				cJSON_Delete(d);
				if (!(p > 0)) {
					sfmt(msg, msgn, "%s/runs/%s.json: host.pcpus: expected a number > 0 "
							"(for the overcommit ratio)", dir, r->c.rows[i][r->c_run]);
					goto fail;
				}
				r->overcommit[i] = v / p;
			}
			sfmt(oc[i], sizeof oc[i], "%.4g", r->overcommit[i]);
			xrow[i] = oc[i];
		} else {
			xrow[i] = xcol < 0 ? "all" : r->c.rows[i][xcol];
		}
		int j = 0;
		while (j < a->nx && strcmp(a->xs[j], xrow[i]))
			j++;
		if (j == a->nx)
			a->xs[a->nx++] = xrow[i];
		const char *g = gcol < 0 ? "" : r->c.rows[i][gcol];
		j = 0;
		while (j < a->ng && strcmp(a->gs[j], g))
			j++;
		if (j == a->ng)
			a->gs[a->ng++] = g;
	}
	a->st = calloc((size_t)a->nx * (size_t)a->ng, sizeof *a->st);
	if (!a->st) {
		sfmt(msg, msgn, "out of memory");
		goto fail;
	}
	for (int x = 0; x < a->nx; x++)
		for (int g = 0; g < a->ng; g++) {
			int n = 0;
			for (int i = 0; i < nr; i++)
				if (use[i] && !strcmp(xrow[i], a->xs[x]) &&
				    !strcmp(gcol < 0 ? "" : r->c.rows[i][gcol], a->gs[g]) &&
				    parse_num(r->c.rows[i][ycol], &vals[n]))
					n++;
			sweep_stats(vals, n, &a->st[x * a->ng + g]);
		}
	if (xcol == -2)
		for (int x = 0; x < a->nx; x++)
			a->xnum[x] = strtod(a->xs[x], NULL);
	free(xrow);
	free(vals);
	return 0;
fail:
	free(xrow);
	free(vals);
	agg_free(a);
	memset(a, 0, sizeof *a);
	return 2;
}

static int plot_stats(struct results *r, const struct opts *o, const char *plotdir,
		      const unsigned char *use, int lines, int xcol, int gcol, int ycol,
		      const char *norm)
{
	char msg[1024];
	struct agg a;
	if (aggregate(r, o->dir, use, xcol, gcol, ycol, &a, msg, sizeof msg)) {
		fprintf(stderr, "vcpusim plot: %s\n", msg);
		return 2;
	}
	/* a key that takes several values at one (x, group): runs pooled, say so */
	for (int k = 1; k <= r->nkeys && r->c.nrows <= 5000; k++) {
		if (k == gcol || k == xcol)
			continue;
		int pooled = 0;
		for (int i = 0; i < r->c.nrows && !pooled; i++)
			for (int j = 0; j < i && !pooled && use[i]; j++)
				pooled = use[j] && strcmp(r->c.rows[i][k], r->c.rows[j][k]) &&
					 (xcol < 0 || !strcmp(r->c.rows[i][xcol], r->c.rows[j][xcol])) &&
					 (gcol < 0 || !strcmp(r->c.rows[i][gcol], r->c.rows[j][gcol])) &&
					 (xcol != -2 || r->overcommit[i] == r->overcommit[j]);
		if (pooled)
			fprintf(stderr, "vcpusim plot: note: %s: pooling the runs over %s; pick one "
					"value with --where %s=VALUE\n", lines ? "lines" : "bars",
				r->c.head[k], r->c.head[k]);
	}
	int empty = 0, used = 0, ncens = 0;
	/* censored runs (issue 14 item 10): cut at stop.max_ms (results.csv's
	 * stopped_at_max) without a value of y; per group, for the legend */
	int c_stop = col_index(&r->c, "stopped_at_max");
	int *cens = calloc((size_t)a.ng + 1, sizeof *cens);
	for (int i = 0; i < r->c.nrows; i++)
		if (use[i]) {
			used++;
			empty += !r->c.rows[i][ycol][0];
			if (cens && c_stop >= r->c_first_metric && !r->c.rows[i][ycol][0] &&
			    !strcmp(r->c.rows[i][c_stop], "1")) {
				const char *g = gcol < 0 ? "" : r->c.rows[i][gcol];
				for (int j = 0; j < a.ng; j++)
					if (!strcmp(a.gs[j], g))
						cens[j]++;
				ncens++;
			}
		}
	if (empty)
		fprintf(stderr, "vcpusim plot: note: %s: %d of %d runs have no %s (a VM that did not "
				"finish has no completion time; %d of them censored: cut at "
				"stop.max_ms); means are over the runs that have one\n",
			lines ? "lines" : "bars", empty, used, r->c.head[ycol], ncens);
	int nref = -1;
	if (norm) {
		for (int g = 0; g < a.ng; g++)
			if (!strcmp(a.gs[g], norm))
				nref = g;
		if (nref < 0) {
			fprintf(stderr, "vcpusim plot: --normalise-to %s: no such value of %s in %s\n",
				norm, gcol >= 0 ? r->c.head[gcol] : "the group (none)", r->path);
			agg_free(&a);
			free(cens);
			return 2;
		}
	}
	/* order: lines by numeric x; bars as they appear */
	int *ord = calloc((size_t)a.nx + 1, sizeof *ord);
	if (!ord) {
		agg_free(&a);
		free(cens);
		return 1;
	}
	for (int x = 0; x < a.nx; x++) {
		ord[x] = x;
		if (lines && xcol >= 0)
			a.xnum[x] = strtod(a.xs[x], NULL);
	}
	if (lines)
		for (int i = 1; i < a.nx; i++)
			for (int j = i; j > 0 && a.xnum[ord[j - 1]] > a.xnum[ord[j]]; j--) {
				int t = ord[j];
				ord[j] = ord[j - 1];
				ord[j - 1] = t;
			}
	struct sbuf d = { 0 };
	dat_field(&d, lines ? "x" : "x");
	char ylab[512], xlab[512], title[1024], gname[512];
	metric_label(r->c.head[ycol], ylab, sizeof ylab);
	for (int g = 0; g < a.ng; g++) {
		sb_puts(&d, "\t");
		sfmt(gname, sizeof gname, "%s", gcol < 0 ? ylab : a.gs[g]);
		if (cens && cens[g]) {
			size_t l = strlen(gname);
			sfmt(gname + l, sizeof gname - l, " (%d censored)", cens[g]);
		}
		dat_field(&d, gname);
		sb_puts(&d, "\t");
		dat_field(&d, gname);
		sb_puts(&d, " ci95");
	}
	sb_puts(&d, "\n");
	for (int xi = 0; xi < a.nx; xi++) {
		int x = ord[xi];
		if (lines)
			dat_num(&d, a.xnum[x]);
		else
			dat_field(&d, a.xs[x]);
		double ref = nref >= 0 ? a.st[x * a.ng + nref].mean : 1;
		for (int g = 0; g < a.ng; g++) {
			const struct sweep_stats *s = &a.st[x * a.ng + g];
			sb_puts(&d, "\t");
			dat_num(&d, s->mean / ref);
			sb_puts(&d, "\t");
			dat_num(&d, isnan(s->mean) ? NAN : isnan(s->ci95) ? 0 : s->ci95 / fabs(ref));
		}
		sb_puts(&d, "\n");
	}
	if (xcol == -2)
		key_label("overcommit", xlab, sizeof xlab);
	else if (xcol >= 0)
		key_label(r->c.head[xcol], xlab, sizeof xlab);
	else
		sfmt(xlab, sizeof xlab, " ");
	char ylabel[700];
	if (norm) { /* a ratio: the unit goes */
		char *u = strrchr(ylab, '(');
		if (u && u > ylab)
			u[-1] = 0;
		sfmt(ylabel, sizeof ylabel, "%s relative to %s (ratio)", ylab, norm);
	}
	else
		sfmt(ylabel, sizeof ylabel, "%s", ylab);
	/* the smallest n shown, for the title */
	int nmin = INT_MAX, nmax = 0;
	for (int i = 0; i < a.nx * a.ng; i++) {
		if (a.st[i].n > 0 && a.st[i].n < nmin)
			nmin = a.st[i].n;
		if (a.st[i].n > nmax)
			nmax = a.st[i].n;
	}
	char nrange[64];
	if (nmin >= nmax)
		sfmt(nrange, sizeof nrange, "%d", nmax);
	else
		sfmt(nrange, sizeof nrange, "%d to %d", nmin, nmax);
	sfmt(title, sizeof title, "%s%s%s: mean and 95%% CI over %s runs per %s", ylab,
	     gcol >= 0 ? " per " : "", gcol >= 0 ? r->c.head[gcol] : "", nrange,
	     lines ? "point" : "bar");
	for (int w = 0; w < o->nwhere; w++) {
		size_t l = strlen(title);
		sfmt(title + l, sizeof title - l, "%s%s", w ? ", " : " (", o->where[w]);
		if (w == o->nwhere - 1 && strlen(title) + 2 < sizeof title)
			strcat(title, ")");
	}
	if (ncens) {
		size_t l = strlen(title);
		sfmt(title + l, sizeof title - l, "; %d censored: runs cut at stop.max_ms, left "
			"out; their means are lower bounds", ncens);
	}
	free(cens);
	int rc = render(plotdir, lines ? "lines" : "bars", &d, title, xlab, ylabel,
			gcol >= 0 ? r->c.head[gcol] : "", a.ng, norm ? 1.0 : 0.0, NULL);
	sb_free(&d);
	free(ord);
	agg_free(&a);
	return rc;
}

static int plot_hist(struct results *r, const struct opts *o, const char *plotdir,
		     const unsigned char *use, int gcol)
{
	char msg[1024];
	enum { NB = 64 };
	const char **gs = calloc((size_t)r->c.nrows + 1, sizeof *gs);
	double *h = calloc((size_t)(r->c.nrows + 1) * NB, sizeof *h);
	if (!gs || !h) {
		free(gs);
		free(h);
		return 1;
	}
	int ng = 0, maxb = 0, rc = 0, vm_seen = !o->vm;
	for (int i = 0; i < r->c.nrows && !rc; i++) {
		if (!use[i])
			continue;
		const char *g = gcol < 0 ? "all runs" : r->c.rows[i][gcol];
		int j = 0;
		while (j < ng && strcmp(gs[j], g))
			j++;
		if (j == ng)
			gs[ng++] = g;
		cJSON *d = row_doc(r, o->dir, i, msg, sizeof msg);
		const cJSON *vm;
		if (!d) {
			fprintf(stderr, "vcpusim plot: %s\n", msg);
			rc = 2;
			break;
		}
		int vi = 0;
		cJSON_ArrayForEach(vm, cJSON_GetObjectItemCaseSensitive(d, "vms")) {
			const cJSON *nm = cJSON_GetObjectItemCaseSensitive(vm, "name");
			vi++;
			if (o->vm && !(cJSON_IsString(nm) && !strcmp(nm->valuestring, o->vm)))
				continue;
			vm_seen = 1;
			const cJSON *hist = cJSON_GetObjectItemCaseSensitive(
				cJSON_GetObjectItemCaseSensitive(vm, "spin"), "histogram_log2_cycles");
			if (!hist)
				continue;
			if (!cJSON_IsArray(hist)) {
				fprintf(stderr, "vcpusim plot: %s/runs/%s.json: vms[%d].spin."
						"histogram_log2_cycles: expected an array of counts\n",
					o->dir, r->c.rows[i][r->c_run], vi - 1);
				rc = 2;
				break;
			}
			int b = 0;
			const cJSON *c;
			cJSON_ArrayForEach(c, hist) {
				if (!cJSON_IsNumber(c) || c->valuedouble < 0 || b >= NB) {
					fprintf(stderr, "vcpusim plot: %s/runs/%s.json: vms[%d].spin."
							"histogram_log2_cycles[%d]: expected a count >= 0 "
							"(at most %d buckets)\n",
						o->dir, r->c.rows[i][r->c_run], vi - 1, b, NB);
					rc = 2;
					break;
				}
				h[j * NB + b] += c->valuedouble;
				if (c->valuedouble > 0 && b + 1 > maxb)
					maxb = b + 1;
				b++;
			}
			if (rc)
				break;
		}
		cJSON_Delete(d);
	}
	if (!rc && !vm_seen) {
		fprintf(stderr, "vcpusim plot: --vm %s: no VM of that name in the runs of %s\n",
			o->vm, o->dir);
		rc = 2;
	}
	if (!rc && !maxb) {
		fprintf(stderr, "vcpusim plot: no spinlock waits recorded in the runs of %s "
				"(histogram_log2_cycles all empty): no histogram\n", o->dir);
		rc = 3; /* nothing to draw: not an error for --kind all */
	}
	if (!rc) {
		struct sbuf d = { 0 };
		sb_puts(&d, "log2_cycles");
		for (int g = 0; g < ng; g++) {
			sb_puts(&d, "\t");
			dat_field(&d, gs[g]);
		}
		sb_puts(&d, "\n");
		for (int b = 0; b < maxb; b++) {
			sb_printf(&d, "%d", b);
			for (int g = 0; g < ng; g++) {
				double tot = 0;
				for (int k = 0; k < NB; k++)
					tot += h[g * NB + k];
				sb_puts(&d, "\t");
				/* hist.gp breaks the line at an empty bucket (log axis) */
				dat_num(&d, tot > 0 ? 100.0 * h[g * NB + b] / tot : 0);
			}
			sb_puts(&d, "\n");
		}
		char title[1024];
		sfmt(title, sizeof title, "Spinlock wait times%s%s%s%s, all runs pooled", o->vm ? " of VM " : "",
		     o->vm ? o->vm : " (all VMs)", gcol >= 0 ? " per " : "", gcol >= 0 ? r->c.head[gcol] : "");
		rc = render(plotdir, "hist", &d, title,
			    "wait before acquiring the lock (cycles, log2 buckets: 2^i to 2^(i+1)-1)",
			    "lock acquisitions (% of the group's total, log scale)",
			    gcol >= 0 ? r->c.head[gcol] : "", ng, 0, NULL);
		sb_free(&d);
	}
	free(gs);
	free(h);
	return rc;
}

/* Whether key k takes several values among the used runs of one x value. */
static int splits(const struct results *r, const unsigned char *use, int k, int xcol)
{
	for (int i = 0; i < r->c.nrows && r->c.nrows <= 5000; i++)
		for (int j = 0; j < i && use[i]; j++)
			if (use[j] && strcmp(r->c.rows[i][k], r->c.rows[j][k]) &&
			    (xcol == -1 || (xcol == -2 ? r->overcommit[i] == r->overcommit[j]
						: !strcmp(r->c.rows[i][xcol], r->c.rows[j][xcol]))))
				return 1;
	return 0;
}

static void plot_usage(FILE *f)
{
	fprintf(f,
		"usage: vcpusim plot DIR [-o PLOTDIR] [--kind bars|lines|hist|all] [--x KEY]\n"
		"                    [--group KEY] [--y METRIC] [--normalise-to VALUE|none]\n"
		"                    [--where KEY=VALUE]... [--vm NAME] [--logy] [--pdf]\n"
		"                    [--title TEXT] [--xlabel TEXT] [--ylabel TEXT]\n"
		"       vcpusim plot --timeline TRACE.json [--from MS] [--to MS] [-o PLOTDIR]\n\n"
		"Draws figures from a sweep's output directory DIR (results.csv, runs/) with\n"
		"gnuplot, as PNG and SVG in PLOTDIR (default DIR/plots), with the .dat and .gp\n"
		"files that made them. Prints the files written.\n\n"
		"  --kind     bars: mean of Y per X value, a bar per GROUP value, 95%% CI error\n"
		"             bars; lines: Y against a numeric X, a line per GROUP; hist: the\n"
		"             spinlock wait histogram (log2 cycles) per GROUP; all (default):\n"
		"             each that the data allows\n"
		"  --x KEY    a varied key (a results.csv column) or `overcommit` (total vCPUs /\n"
		"             pCPUs of each run). Default: bars the first varied key that is not\n"
		"             the group; lines `overcommit` if it varies, else the first numeric\n"
		"             varied key\n"
		"  --group KEY  a varied key, KEY1+KEY2 (their values joined by /), or `none`;\n"
		"             default scheduler.policy if varied, else\n"
		"             for bars the second varied key, for lines the first key that takes\n"
		"             several values at one x\n"
		"  --y METRIC a metric column (par.completion_ms, host.utilization, ...) or a\n"
		"             bare VM metric (completion_ms: the first VM that has it). Default:\n"
		"             the first VM's completion_ms, else work_ms\n"
		"  --normalise-to VALUE  divide by the mean of group VALUE at the same x;\n"
		"             default for bars of completion times grouped by policy: credit\n"
		"  --where KEY=VALUE  only runs with that value of a varied key (repeatable);\n"
		"             runs are pooled over varied keys that are neither x nor group\n"
		"  --vm NAME  the histogram of one VM only (default: all VMs)\n"
		"  --logy     a logarithmic y axis (bars, lines; hist always has one)\n"
		"  --pdf      also KIND.pdf (gnuplot's pdfcairo terminal)\n"
		"  --title TEXT, --xlabel TEXT, --ylabel TEXT  instead of the derived ones\n\n"
		"  --timeline TRACE.json  instead: a Gantt chart (timeline.png/.svg) of which\n"
		"             VM's vCPU ran on each pCPU between --from and --to ms (default 0\n"
		"             to 300) of a `vcpusim run --trace` file; PLOTDIR defaults to the\n"
		"             trace's directory\n\n"
		"Exit: 0 done, 2 bad input (malformed DIR, unknown key), 1 other failure.\n");
}

/* ---------------------------------------------------------------- timeline */

/* `vcpusim plot --timeline TRACE.json [--from MS] [--to MS] [-o PLOTDIR]`: a Gantt
 * chart of the window [from, to) of a `run --trace` file: a row per pCPU, bars
 * coloured by VM. Default window: the first 300 ms; default PLOTDIR: the trace's
 * directory. */
/* A stretch of a vCPU on a pCPU: a complete event of category "vcpu" (`run
 * --trace`, `kvm --trace`), or any complete event of pid 0 (files written before
 * the tracks moved off Perfetto's reserved pid 0). */
static int is_pcpu_slice(const cJSON *e)
{
	const cJSON *ph = cJSON_GetObjectItemCaseSensitive(e, "ph");
	const cJSON *pid = cJSON_GetObjectItemCaseSensitive(e, "pid");
	const cJSON *cat = cJSON_GetObjectItemCaseSensitive(e, "cat");
	if (!cJSON_IsString(ph) || strcmp(ph->valuestring, "X"))
		return 0;
	return (cJSON_IsString(cat) && !strcmp(cat->valuestring, "vcpu")) ||
	       (cJSON_IsNumber(pid) && pid->valuedouble == 0);
}

/* Its row: args.pcpu, else (older files) its tid; -1 if neither is a number. */
static int slice_row(const cJSON *e)
{
	const cJSON *args = cJSON_GetObjectItemCaseSensitive(e, "args");
	const cJSON *pc = args ? cJSON_GetObjectItemCaseSensitive(args, "pcpu") : NULL;
	if (!cJSON_IsNumber(pc))
		pc = cJSON_GetObjectItemCaseSensitive(e, "tid");
	if (!cJSON_IsNumber(pc) || !(pc->valuedouble >= 0 && pc->valuedouble < 1e6))
		return -1;
	return (int)pc->valuedouble;
}

/* set by plot_timeline_data: the trace records real time (`vcpusim kvm --trace`) */
static int timeline_real;

int plot_timeline_data(const char *trace, double from, double to, struct sbuf *dat,
		       struct sbuf *names_var, int *ngroups)
{
	struct jp jp;
	jp_init(&jp, trace);
	cJSON *root = jp_load_file(&jp, trace);
	const cJSON *evs = root ? cJSON_GetObjectItemCaseSensitive(root, "traceEvents") : NULL;
	if (!root || !cJSON_IsArray(evs)) {
		fprintf(stderr, "%s\n", root ? "" : jp.msg);
		if (root)
			fprintf(stderr, "%s: traceEvents: expected the array of a `vcpusim run --trace` file\n",
				trace);
		cJSON_Delete(root);
		return 2;
	}
	/* VM names in order of first appearance */
	const char *names[256];
	int nnames = 0, bad = 0, slices = 0, npcpus = 0;
	const cJSON *e;
	cJSON_ArrayForEach(e, evs) {
		if (!is_pcpu_slice(e))
			continue;
		const cJSON *args = cJSON_GetObjectItemCaseSensitive(e, "args");
		const cJSON *vm = args ? cJSON_GetObjectItemCaseSensitive(args, "vm") : NULL;
		const cJSON *ts = cJSON_GetObjectItemCaseSensitive(e, "ts");
		const cJSON *dur = cJSON_GetObjectItemCaseSensitive(e, "dur");
		int row = slice_row(e);
		/* times finite and in range: an int cast of 1e300 is undefined (issue 13,
		 * item 13); slice_row bounds the row */
		if (!cJSON_IsString(vm) || !cJSON_IsNumber(ts) || !cJSON_IsNumber(dur) || row < 0 ||
		    row > 4095 || !(fabs(ts->valuedouble) < 1e15) ||
		    !(dur->valuedouble >= 0 && dur->valuedouble < 1e15)) {
			bad++;
			continue;
		}
		if (row + 1 > npcpus)
			npcpus = row + 1;
		int k = 0;
		while (k < nnames && strcmp(names[k], vm->valuestring))
			k++;
		if (k == nnames && nnames < 256)
			names[nnames++] = vm->valuestring;
		slices++;
	}
	if (bad || !slices) {
		fprintf(stderr, "%s: traceEvents: %s\n", trace,
			bad ? "pCPU slices without vm, ts, dur or tid, or out of range (ts and dur "
			      "finite, a pCPU number < 4096): not a `vcpusim run --trace` file"
			    : "no pCPU slices (an empty run, or not a `vcpusim run --trace` file)");
		cJSON_Delete(root);
		return 2;
	}
	struct sbuf d = { 0 }, vars = { 0 };
	int drawn = 0;
	/* The names come from the trace file, untrusted: one word each (word() splits
	 * on blanks), into a single-quoted gnuplot string (gp_str), where gnuplot
	 * neither runs `...` nor reads escapes; in the data, a comment on one line. */
	struct sbuf words = { 0 };
	for (int k = 0; k < nnames; k++) {
		if (k)
			sb_puts(&d, "\n\n");
		sb_puts(&d, "# ");
		dat_field(&d, names[k]);
		sb_puts(&d, "\n");
		sb_puts(&words, k ? " " : "");
		/* word() splits at blanks and honours quotes: neither may be in a name */
		for (const unsigned char *c = (const unsigned char *)names[k]; *c; c++)
			sb_add(&words, *c <= ' ' || *c == '"' || *c == '\'' || *c == '\\' || *c == 0x7f
				       ? "_" : (const char *)c, 1);
		int any = 0;
		cJSON_ArrayForEach(e, evs) {
			if (!is_pcpu_slice(e))
				continue;
			const cJSON *args = cJSON_GetObjectItemCaseSensitive(e, "args");
			const char *vm = cJSON_GetObjectItemCaseSensitive(args, "vm")->valuestring;
			if (strcmp(vm, names[k]))
				continue;
			double a = cJSON_GetObjectItemCaseSensitive(e, "ts")->valuedouble / 1e3;
			double b = a + cJSON_GetObjectItemCaseSensitive(e, "dur")->valuedouble / 1e3;
			if (b <= from || a >= to)
				continue;
			sb_printf(&d, "%d\t%.6f\t%.6f\n", slice_row(e),
				  a < from ? from : a, b > to ? to : b);
			any = 1;
			drawn++;
		}
		if (!any)   /* keep the block so that block i is VM i */
			sb_printf(&d, "-1\t%.6f\t%.6f\n", from, from);
	}
	sb_puts(&vars, "names = ");
	gp_str(&vars, words.p ? words.p : "");
	sb_free(&words);
	sb_printf(&vars, "\nnpcpus = %d\n", npcpus);
	/* `vcpusim kvm --trace` files record real time (metadata.clock "real") */
	const cJSON *meta = cJSON_GetObjectItemCaseSensitive(root, "metadata");
	const cJSON *clock = meta ? cJSON_GetObjectItemCaseSensitive(meta, "clock") : NULL;
	timeline_real = cJSON_IsString(clock) && !strcmp(clock->valuestring, "real");
	cJSON_Delete(root);
	if (!drawn) {
		fprintf(stderr, "%s: nothing ran between %g and %g ms\n", trace, from, to);
		sb_free(&d);
		sb_free(&vars);
		return 2;
	}
	*dat = d;
	*names_var = vars;
	*ngroups = nnames;
	return 0;
}

static int plot_timeline(const char *trace, const char *out, double from, double to)
{
	struct sbuf d = { 0 }, vars = { 0 };
	int nnames = 0;
	int rc = plot_timeline_data(trace, from, to, &d, &vars, &nnames);
	if (rc)
		return rc;
	int real = timeline_real;
	char dir[PATH_MAX], title[512];
	if (out) {
		sfmt(dir, sizeof dir, "%s", out);
	} else {
		sfmt(dir, sizeof dir, "%s", trace);
		char *slash = strrchr(dir, '/');
		if (slash)
			*slash = 0;
		else
			sfmt(dir, sizeof dir, ".");
	}
	if (mkdir(dir, 0755) < 0 && errno != EEXIST) {
		fprintf(stderr, "vcpusim plot: %s: %s\n", dir, strerror(errno));
		sb_free(&d);
		sb_free(&vars);
		return 1;
	}
	sfmt(title, sizeof title, "Which VM runs on each pCPU, %g to %g ms", from, to);
	rc = stage_begin(dir, trace) < 0 ? 1
		 : render(dir, "timeline", &d, title, real ? "time (ms)" : "simulated time (ms)", "",
			  "VM", nnames, 0, vars.p);
	if (stage.active)
		rc = rc ? (stage_abort(), rc) : stage_commit();
	sb_free(&d);
	sb_free(&vars);
	return rc;
}

int cmd_plot(int argc, char **argv)
{
	struct opts o = { 0 };
	o.where = calloc((size_t)argc + 1, sizeof *o.where);
	if (!o.where)
		return 1;
	int rc = 2;
	for (int i = 1; i < argc; i++)
		if (!strcmp(argv[i], "--timeline")) {
			free(o.where);
			const char *trace = NULL, *out = NULL;
			double from = 0, to = 300;
			for (int k = 1; k < argc; k++) {
				const char *a = argv[k], *v = k + 1 < argc ? argv[k + 1] : NULL;
				char *end = NULL;
				if (!strcmp(a, "--timeline") && v && !trace) {
					trace = v;
					k++;
				} else if (!strcmp(a, "-o") && v) {
					out = v;
					k++;
				} else if ((!strcmp(a, "--from") || !strcmp(a, "--to")) && v &&
					   (strtod(v, &end), end != v && !*end)) {
					*(!strcmp(a, "--from") ? &from : &to) = strtod(v, NULL);
					k++;
				} else {
					fprintf(stderr, "vcpusim plot --timeline: %s: unknown option or bad value\n", a);
					plot_usage(stderr);
					return 2;
				}
			}
			if (!trace || !(to > from)) {
				fprintf(stderr, "vcpusim plot --timeline: need a trace file and --from < --to\n");
				return 2;
			}
			return plot_timeline(trace, out, from, to);
		}
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		const char *v = i + 1 < argc ? argv[i + 1] : NULL;
		const char **slot = !strcmp(a, "-o") ? &o.out
				    : !strcmp(a, "--kind") ? &o.kind
				    : !strcmp(a, "--x") ? &o.x
				    : !strcmp(a, "--group") ? &o.group
				    : !strcmp(a, "--y") ? &o.y
				    : !strcmp(a, "--normalise-to") || !strcmp(a, "--normalize-to") ? &o.norm
				    : !strcmp(a, "--vm") ? &o.vm
				    : !strcmp(a, "--title") ? &o.title
				    : !strcmp(a, "--xlabel") ? &o.xlabel
				    : !strcmp(a, "--ylabel") ? &o.ylabel
				    : NULL;
		if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
			plot_usage(stdout);
			free(o.where);
			return 0;
		} else if (slot && v) {
			*slot = v;
			i++;
		} else if (!strcmp(a, "--where") && v) {
			o.where[o.nwhere++] = argv[++i];
		} else if (!strcmp(a, "--logy") || !strcmp(a, "--pdf")) {
			*(!strcmp(a, "--logy") ? &o.logy : &o.pdf) = 1;
		} else if (a[0] == '-' || o.dir) {
			fprintf(stderr, "vcpusim plot: %s: %s\n", a,
				a[0] == '-' ? "unknown option or missing value" : "one directory only");
			plot_usage(stderr);
			goto out;
		} else {
			o.dir = a;
		}
	}
	if (!o.dir) {
		fprintf(stderr, "vcpusim plot: missing the sweep directory\n");
		plot_usage(stderr);
		goto out;
	}
	style = &o;
	const char *kind = o.kind ? o.kind : "all";
	int k_bars = !strcmp(kind, "bars") || !strcmp(kind, "all");
	int k_lines = !strcmp(kind, "lines") || !strcmp(kind, "all");
	int k_hist = !strcmp(kind, "hist") || !strcmp(kind, "all");
	int all = !strcmp(kind, "all");
	if (!k_bars && !k_lines && !k_hist) {
		fprintf(stderr, "vcpusim plot: --kind %s: expected bars, lines, hist or all\n", kind);
		goto out;
	}

	struct results r;
	char msg[1024];
	unsigned char *use = NULL;
	const char **vals = NULL;
	if ((rc = results_load(o.dir, &r, msg, sizeof msg))) {
		fprintf(stderr, "vcpusim plot: %s\n", msg);
		goto done;
	}
	use = calloc((size_t)r.c.nrows + 1, 1);
	vals = calloc((size_t)r.c.nrows + 1, sizeof *vals);
	if (!use || !vals) {
		rc = 1;
		goto done;
	}
	if ((rc = select_rows(&r, &o, use, msg, sizeof msg))) {
		fprintf(stderr, "vcpusim plot: %s\n", msg);
		goto done;
	}
	rc = 2;
	/* group */
	int gcol = -1;
	if (o.group && strchr(o.group, '+')) {
		size_t gl = strlen(o.group);
		if (o.group[0] == '+' || o.group[gl - 1] == '+' || strstr(o.group, "++")) {
			fprintf(stderr, "vcpusim plot: --group %s: an empty part (expected KEY1+KEY2)\n",
				o.group);
			goto done;
		}
		gcol = combo_col(&r, o.group);
		if (gcol == -3) {
			rc = 1;
			goto done;
		}
		if (gcol < 0) {
			fprintf(stderr, "vcpusim plot: --group %s: each part must be a varied key of %s\n",
				o.group, r.path);
			goto done;
		}
	} else if (o.group && strcmp(o.group, "none")) {
		gcol = key_col(&r, o.group);
		if (gcol < 0) {
			fprintf(stderr, "vcpusim plot: --group %s: not a varied key of %s (varied:", o.group,
				r.path);
			for (int k = 1; k <= r.nkeys; k++)
				fprintf(stderr, " %s", r.c.head[k]);
			fprintf(stderr, "%s)\n", r.nkeys ? "" : " none");
			goto done;
		}
	} else if (!o.group) {
		gcol = key_col(&r, "scheduler.policy");
		if (gcol < 0 && r.nkeys >= 2)
			gcol = 2;
	}
	/* x: a key, `overcommit` (-2) or none (-1) */
	int xcol = -1;
	if (o.x) {
		xcol = !strcmp(o.x, "overcommit") ? -2 : key_col(&r, o.x);
		if (xcol == -1) {
			fprintf(stderr, "vcpusim plot: --x %s: not a varied key of %s nor `overcommit`\n",
				o.x, r.path);
			goto done;
		}
	}
	/* y */
	int ycol = pick_y(&r, o.y, use);
	if (ycol < 0) {
		fprintf(stderr, "vcpusim plot: --y %s: no such metric column with values in %s\n",
			o.y, r.path);
		goto done;
	}
	const char *plotdir = o.out;
	char pd[PATH_MAX];
	if (!plotdir) {
		sfmt(pd, sizeof pd, "%s/plots", o.dir);
		plotdir = pd;
	}
	if (mkdir(plotdir, 0755) < 0 && errno != EEXIST) {
		fprintf(stderr, "vcpusim plot: cannot create %s: %s\n", plotdir, strerror(errno));
		rc = 1;
		goto done;
	}
	if (stage_begin(plotdir, NULL) < 0) {
		rc = 1;
		goto done;
	}
	int made = 0;
	rc = 0;
	if (k_bars) {
		int bx = xcol;
		if (!o.x)
			for (int k = 1; k <= r.nkeys && bx == -1; k++)
				if (k != gcol && distinct(&r, k, use, vals) > 1)
					bx = k;
		const char *norm = o.norm && strcmp(o.norm, "none") ? o.norm : NULL;
		if (!o.norm && gcol >= 0 && !strcmp(r.c.head[gcol], "scheduler.policy") &&
		    strstr(r.c.head[ycol], "completion_ms")) {
			int n = distinct(&r, gcol, use, vals);
			for (int i = 0; i < n; i++)
				if (!strcmp(vals[i], "credit"))
					norm = "credit";
		}
		rc = plot_stats(&r, &o, plotdir, use, 0, bx, gcol, ycol, norm);
		made += !rc;
	}
	if (!rc && k_lines) {
		int lx = xcol;
		if (lx >= 0) {
			int n = distinct(&r, lx, use, vals);
			if (!all_numeric(vals, n)) {
				fprintf(stderr, "vcpusim plot: --x %s: lines need a numeric key\n", o.x);
				rc = 2;
			}
		} else if (lx == -1) {
			/* overcommit if it varies, else the first numeric varied key */
			struct agg a;
			if (aggregate(&r, o.dir, use, -2, -1, ycol, &a, msg, sizeof msg) == 0) {
				if (a.nx > 1)
					lx = -2;
				agg_free(&a);
			}
			for (int k = 1; k <= r.nkeys && lx == -1; k++) {
				int n = distinct(&r, k, use, vals);
				if (k != gcol && n > 1 && all_numeric(vals, n))
					lx = k;
			}
			if (lx == -1) {
				if (!all) {
					fprintf(stderr, "vcpusim plot: --kind lines: no numeric varied key "
							"with several values (give --x KEY)\n");
					rc = 2;
				} else {
					fprintf(stderr, "vcpusim plot: note: no numeric x varies: no lines "
							"figure\n");
				}
			}
		}
		int lg = gcol;
		if (!rc && lx != -1 && !o.group) {
			/* a line per policy, else per the first key that splits an x value */
			struct agg a;
			if (lx == -2 && !aggregate(&r, o.dir, use, -2, -1, ycol, &a, msg, sizeof msg))
				agg_free(&a);
			lg = key_col(&r, "scheduler.policy");
			for (int k = 1; k <= r.nkeys && (lg < 0 || lg == lx); k++)
				lg = k != lx && splits(&r, use, k, lx) ? k : -1;
		}
		if (!rc && lx != -1) {
			const char *norm = o.norm && strcmp(o.norm, "none") ? o.norm : NULL;
			rc = plot_stats(&r, &o, plotdir, use, 1, lx, lg, ycol, norm);
			made += !rc;
		}
	}
	if (!rc && k_hist) {
		int hg = gcol;
		if (!o.group && key_col(&r, "scheduler.policy") < 0)
			for (int k = r.nkeys, n; k >= 1; k--)
				if ((n = distinct(&r, k, use, vals)) > 1)
					hg = k;
		rc = plot_hist(&r, &o, plotdir, use, hg);
		if (rc == 3)
			rc = all ? 0 : 2;
		else
			made += !rc;
	}
	if (!rc && !made) {
		fprintf(stderr, "vcpusim plot: nothing to draw\n");
		rc = 2;
	}
done:
	if (stage.active)
		rc = rc ? (stage_abort(), rc) : stage_commit();
	free(use);
	free(vals);
	results_free(&r);
out:
	style = NULL;
	free(o.where);
	return rc;
}
