/* sweep.c: `vcpusim sweep`: runs a base scenario across the cartesian product of
 * its variations and replicate seeds, each run a separate `vcpusim run` process,
 * N at a time; keeps every result in DIR/runs/ and writes DIR/results.csv (a row a
 * run) and DIR/summary.csv (mean, sd, 95% CI per point and metric). Resumes an
 * interrupted sweep, runs one shard of it (--shard K/N) and merges shard
 * directories (--merge). The sweep file format is documented in docs/sweeps.md. */
#include "sim/sweep.h"
#include "sim/cli.h"
#include "sim/jparse.h"
#include <cjson/cJSON.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <gsl/gsl_cdf.h>
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

/* ---------------------------------------------------------------- helpers */

/* snprintf for messages and paths, where a cut-off at n bytes is acceptable. */
static void sfmt(char *out, size_t n, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void sfmt(char *out, size_t n, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(out, n, fmt, ap);
	va_end(ap);
}

void sb_add(struct sbuf *b, const char *s, size_t n)
{
	if (b->oom)
		return;
	if (b->len + n + 1 > b->cap) {
		size_t cap = b->cap ? b->cap : 256;
		while (cap < b->len + n + 1)
			cap *= 2;
		char *p = realloc(b->p, cap);
		if (!p) {
			b->oom = 1;
			return;
		}
		b->p = p;
		b->cap = cap;
	}
	memcpy(b->p + b->len, s, n);
	b->len += n;
	b->p[b->len] = 0;
}

void sb_puts(struct sbuf *b, const char *s)
{
	sb_add(b, s, strlen(s));
}

void sb_printf(struct sbuf *b, const char *fmt, ...)
{
	char tmp[512];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	if ((size_t)n < sizeof tmp) {
		sb_add(b, tmp, (size_t)n);
		return;
	}
	char *big = malloc((size_t)n + 1);
	if (!big) {
		b->oom = 1;
		return;
	}
	va_start(ap, fmt);
	vsnprintf(big, (size_t)n + 1, fmt, ap);
	va_end(ap);
	sb_add(b, big, (size_t)n);
	free(big);
}

void sb_free(struct sbuf *b)
{
	free(b->p);
	b->p = NULL;
	b->len = b->cap = 0;
	b->oom = 0;
}

int sweep_write_file(const char *path, const char *data, size_t len)
{
	return write_file_atomic(path, data, len);
}

char *sweep_read_file(const char *path, size_t *lenp)
{
	FILE *f = fopen(path, "rb");
	if (!f)
		return NULL;
	struct sbuf b = { 0 };
	char chunk[65536];
	size_t n;
	while ((n = fread(chunk, 1, sizeof chunk, f)) > 0)
		sb_add(&b, chunk, n);
	int err = ferror(f);
	fclose(f);
	if (err || b.oom) {
		sb_free(&b);
		errno = err ? EIO : ENOMEM;
		return NULL;
	}
	if (!b.p)
		sb_add(&b, "", 0);
	if (lenp)
		*lenp = b.len;
	return b.p;
}

void sweep_fmt_num(char *out, size_t n, double v)
{
	if (isnan(v)) {
		sfmt(out, n, "nan");
		return;
	}
	if (isinf(v)) {
		sfmt(out, n, v > 0 ? "inf" : "-inf");
		return;
	}
	if (v == 0)
		v = 0; /* no "-0" */
	sfmt(out, n, "%.15g", v);
	if (strtod(out, NULL) != v)
		sfmt(out, n, "%.17g", v);
}

void sweep_csv_field(struct sbuf *b, const char *s)
{
	if (!strpbrk(s, ",\"\r\n")) {
		sb_puts(b, s);
		return;
	}
	sb_add(b, "\"", 1);
	for (; *s; s++) {
		if (*s == '"')
			sb_add(b, "\"", 1);
		sb_add(b, s, 1);
	}
	sb_add(b, "\"", 1);
}

void sweep_stats(const double *x, int n, struct sweep_stats *st)
{
	st->n = n;
	st->mean = st->sd = st->ci95 = NAN;
	if (n < 1)
		return;
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

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static int mkdir_p(const char *dir)
{
	char tmp[PATH_MAX];
	if (snprintf(tmp, sizeof tmp, "%s", dir) >= (int)sizeof tmp) {
		errno = ENAMETOOLONG;
		return -1;
	}
	for (char *p = tmp + 1; *p; p++)
		if (*p == '/') {
			*p = 0;
			if (mkdir(tmp, 0755) < 0 && errno != EEXIST)
				return -1;
			*p = '/';
		}
	if (mkdir(tmp, 0755) < 0 && errno != EEXIST)
		return -1;
	struct stat st;
	if (stat(tmp, &st) < 0)
		return -1;
	if (!S_ISDIR(st.st_mode)) {
		errno = ENOTDIR;
		return -1;
	}
	return 0;
}

static int file_exists(const char *path)
{
	struct stat st;
	return stat(path, &st) == 0;
}

/* ---------------------------------------------------------------- the sweep */

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

static void sweep_free(struct sweep *sw)
{
	for (int d = 0; d < sw->ndims; d++) {
		free(sw->dims[d].keys);
		free(sw->dims[d].vals);
	}
	free(sw->dims);
	free(sw->stride);
	free(sw->keys);
	free(sw->key_dim);
	free(sw->key_pos);
	free(sw->seeds);
	free(sw->canon_text);
	cJSON_Delete(sw->canon);
	memset(sw, 0, sizeof *sw);
}

static const cJSON *point_value(const struct sweep *sw, long p, int k)
{
	int d = sw->key_dim[k];
	int idx = (int)((p / sw->stride[d]) % sw->dims[d].n);
	return cJSON_GetArrayItem(sw->dims[d].vals[sw->key_pos[k]], idx);
}

/* A varied value as text: strings bare, numbers in sweep_fmt_num, else JSON. */
static void value_text(const cJSON *v, char *out, size_t n)
{
	if (cJSON_IsString(v)) {
		sfmt(out, n, "%s", v->valuestring);
	} else if (cJSON_IsNumber(v)) {
		sweep_fmt_num(out, n, v->valuedouble);
	} else {
		char *s = cJSON_PrintUnformatted(v);
		sfmt(out, n, "%s", s ? s : "?");
		free(s);
	}
}

/* "scheduler.policy=\"gang\", vms[0].vcpus=4" for messages. */
static void point_label(const struct sweep *sw, long p, char *out, size_t n)
{
	out[0] = 0;
	size_t len = 0;
	for (int k = 0; k < sw->nkeys && len < n; k++) {
		char *v = cJSON_PrintUnformatted(point_value(sw, p, k));
		len += (size_t)snprintf(out + len, n - len, "%s%s=%s", k ? ", " : "", sw->keys[k],
					v ? v : "?");
		free(v);
	}
	if (!sw->nkeys)
		sfmt(out, n, "the base scenario");
}

/* Applies one value at a dotted path; on failure writes the reason to why. */
static int apply_value(cJSON *doc, const char *key, const cJSON *val, char *why, size_t whyn)
{
	char *vs = cJSON_PrintUnformatted(val);
	if (!vs) {
		sfmt(why, whyn, "out of memory");
		return -1;
	}
	size_t n = strlen(key) + strlen(vs) + 2;
	char *assign = malloc(n);
	if (!assign) {
		free(vs);
		sfmt(why, whyn, "out of memory");
		return -1;
	}
	sfmt(assign, n, "%s=%s", key, vs);
	free(vs);
	struct jp jp;
	jp_init(&jp, "");
	int rc = jp_set_path(&jp, doc, assign);
	if (rc < 0) {
		/* jp->msg is ": --set PATH=VALUE: reason"; keep the reason */
		const char *m = jp.msg;
		if (!strncmp(m, ": ", 2))
			m += 2;
		if (!strncmp(m, "--set ", 6) && strstr(m + 6, ": "))
			m = strstr(m + 6, ": ") + 2;
		sfmt(why, whyn, "%s", m);
	}
	free(assign);
	return rc;
}

/* The scenario of point p with the given seed (caller frees), or NULL with why. */
static cJSON *point_scenario(const struct sweep *sw, long p, uint64_t seed, char *why, size_t whyn)
{
	cJSON *doc = cJSON_Duplicate(sw->base, 1);
	if (!doc) {
		sfmt(why, whyn, "out of memory");
		return NULL;
	}
	for (int k = 0; k < sw->nkeys; k++)
		if (apply_value(doc, sw->keys[k], point_value(sw, p, k), why, whyn) < 0) {
			cJSON_Delete(doc);
			return NULL;
		}
	cJSON *s = cJSON_CreateNumber((double)seed);
	if (cJSON_GetObjectItemCaseSensitive(doc, "seed"))
		cJSON_ReplaceItemInObjectCaseSensitive(doc, "seed", s);
	else
		cJSON_AddItemToObject(doc, "seed", s);
	return doc;
}

static int add_key(struct sweep *sw, struct jp *jp, const char *key, int d, int pos,
		   const char *where)
{
	for (int k = 0; k < sw->nkeys; k++)
		if (!strcmp(sw->keys[k], key)) {
			jp_fail(jp, where, "\"%s\" is varied twice (in vary or zip)", key);
			return -1;
		}
	if (!strcmp(key, "seed")) {
		jp_fail(jp, where, "the seed is set by \"replicates\" (with \"seed\") or \"seeds\", "
				   "not by vary or zip");
		return -1;
	}
	sw->keys[sw->nkeys] = key;
	sw->key_dim[sw->nkeys] = d;
	sw->key_pos[sw->nkeys] = pos;
	sw->nkeys++;
	return 0;
}

/* Checks each value of a key applies to the base scenario. */
static void check_values(struct jp *jp, const cJSON *base, const char *key, const cJSON *arr,
			 const char *where)
{
	for (int i = 0; i < cJSON_GetArraySize(arr) && !jp->failed; i++) {
		cJSON *doc = cJSON_Duplicate(base, 1);
		char why[512];
		if (doc && apply_value(doc, key, cJSON_GetArrayItem(arr, i), why, sizeof why) < 0) {
			char p[JP_PATH_MAX];
			sfmt(p, sizeof p, "%s[%d]", where, i);
			jp_fail(jp, p, "cannot apply to the base scenario: %s", why);
		}
		cJSON_Delete(doc);
	}
}

static int count_members(const cJSON *o)
{
	int n = 0;
	const cJSON *c;
	cJSON_ArrayForEach(c, o) n++;
	return n;
}

/* Reads a sweep file (or a DIR/sweep.json, which is one with the base inline).
 * Returns 0, or 2 with the message in msg. */
static int sweep_load(struct sweep *sw, const char *file, char *msg, size_t msgn)
{
	memset(sw, 0, sizeof *sw);
	sw->file = file;
	struct jp jp;
	jp_init(&jp, file);
	cJSON *root = jp_load_file(&jp, file);
	cJSON *base = NULL;
	if (root && !cJSON_IsObject(root))
		jp_expected(&jp, NULL, root, "a JSON object (a sweep: base, vary, zip, replicates)");
	static const char *const allowed[] = { "base", "vary", "zip", "replicates", "seed",
					       "seeds", "timeout_s", "description", NULL };
	jp_only_keys(&jp, root, "", allowed);

	/* base */
	const cJSON *bi = jp.failed ? NULL : cJSON_GetObjectItemCaseSensitive(root, "base");
	if (!jp.failed && !bi) {
		jp_fail(&jp, "base", "missing (expected a scenario file name or an inline scenario)");
	} else if (bi && cJSON_IsString(bi)) {
		char path[PATH_MAX];
		const char *slash = strrchr(file, '/');
		if (bi->valuestring[0] == '/' || !slash)
			sfmt(path, sizeof path, "%s", bi->valuestring);
		else
			sfmt(path, sizeof path, "%.*s/%s", (int)(slash - file), file,
				 bi->valuestring);
		struct jp bj;
		jp_init(&bj, path);
		base = jp_load_file(&bj, path);
		if (!base)
			jp_fail(&jp, "base", "%s", bj.msg);
		else if (!cJSON_IsObject(base))
			jp_fail(&jp, "base", "%s: expected a scenario (a JSON object)", path);
	} else if (bi && cJSON_IsObject(bi)) {
		base = cJSON_Duplicate(bi, 1);
	} else if (bi) {
		jp_expected(&jp, "base", bi, "a scenario file name or an inline scenario object");
	}

	const cJSON *vary = jp_obj(&jp, root, "", "vary", 0);
	const cJSON *zip = jp_array(&jp, root, "", "zip", 0);
	int maxkeys = (vary ? count_members(vary) : 0) + 1, maxdims = maxkeys;
	const cJSON *z;
	if (zip)
		cJSON_ArrayForEach(z, zip) {
			maxdims++;
			maxkeys += cJSON_IsObject(z) ? count_members(z) : 0;
		}
	sw->dims = calloc((size_t)maxdims, sizeof *sw->dims);
	sw->stride = calloc((size_t)maxdims, sizeof *sw->stride);
	sw->keys = calloc((size_t)maxkeys, sizeof *sw->keys);
	sw->key_dim = calloc((size_t)maxkeys, sizeof *sw->key_dim);
	sw->key_pos = calloc((size_t)maxkeys, sizeof *sw->key_pos);
	if (!sw->dims || !sw->stride || !sw->keys || !sw->key_dim || !sw->key_pos)
		jp_fail(&jp, NULL, "out of memory");

	if (!jp.failed && vary) {
		const cJSON *c;
		cJSON_ArrayForEach(c, vary) {
			char where[JP_PATH_MAX];
			sfmt(where, sizeof where, "vary[\"%s\"]", c->string);
			if (!cJSON_IsArray(c) || cJSON_GetArraySize(c) < 1) {
				jp_expected(&jp, where, c, "a non-empty list of values");
				break;
			}
			struct dim *d = &sw->dims[sw->ndims];
			d->nkeys = 1;
			d->n = cJSON_GetArraySize(c);
			d->keys = malloc(sizeof *d->keys);
			d->vals = malloc(sizeof *d->vals);
			if (!d->keys || !d->vals) {
				jp_fail(&jp, NULL, "out of memory");
				break;
			}
			d->keys[0] = c->string;
			d->vals[0] = c;
			sw->ndims++;
			if (add_key(sw, &jp, c->string, sw->ndims - 1, 0, where) < 0)
				break;
			if (base)
				check_values(&jp, base, c->string, c, where);
			if (jp.failed)
				break;
		}
	}
	if (!jp.failed && zip) {
		int zi = 0;
		cJSON_ArrayForEach(z, zip) {
			char where[JP_PATH_MAX];
			sfmt(where, sizeof where, "zip[%d]", zi);
			if (!cJSON_IsObject(z) || count_members(z) < 1) {
				jp_expected(&jp, where, z,
					    "an object of lists varied together, e.g. "
					    "{\"host.pcpus\": [4, 8], \"vms[1].count\": [1, 2]}");
				break;
			}
			struct dim *d = &sw->dims[sw->ndims];
			d->keys = calloc((size_t)count_members(z), sizeof *d->keys);
			d->vals = calloc((size_t)count_members(z), sizeof *d->vals);
			sw->ndims++;
			if (!d->keys || !d->vals) {
				jp_fail(&jp, NULL, "out of memory");
				break;
			}
			const cJSON *c;
			cJSON_ArrayForEach(c, z) {
				char kw[JP_PATH_MAX];
				sfmt(kw, sizeof kw, "zip[%d][\"%s\"]", zi, c->string);
				if (!cJSON_IsArray(c) || cJSON_GetArraySize(c) < 1) {
					jp_expected(&jp, kw, c, "a non-empty list of values");
					break;
				}
				if (d->nkeys && cJSON_GetArraySize(c) != d->n) {
					jp_fail(&jp, kw, "has %d values but \"%s\" in the same zip group "
							 "has %d (lists zipped together need equal lengths)",
						cJSON_GetArraySize(c), d->keys[0], d->n);
					break;
				}
				d->n = cJSON_GetArraySize(c);
				d->keys[d->nkeys] = c->string;
				d->vals[d->nkeys] = c;
				if (add_key(sw, &jp, c->string, sw->ndims - 1, d->nkeys, kw) < 0)
					break;
				d->nkeys++;
				if (base)
					check_values(&jp, base, c->string, c, kw);
				if (jp.failed)
					break;
			}
			if (jp.failed)
				break;
			zi++;
		}
	}

	/* seeds */
	int64_t reps = jp_int(&jp, root, "", "replicates", -1, 1, 1000000);
	const cJSON *seeds = jp_array(&jp, root, "", "seeds", 0);
	const cJSON *bs = base ? cJSON_GetObjectItemCaseSensitive(base, "seed") : NULL;
	int64_t seed_def = jp_is_integer(bs) && bs->valuedouble >= 0 ? (int64_t)bs->valuedouble : 1;
	int64_t seed0 = jp_int(&jp, root, "", "seed", seed_def, 0, (int64_t)1 << 53);
	if (!jp.failed && seeds && (reps >= 0 || cJSON_GetObjectItemCaseSensitive(root, "seed")))
		jp_fail(&jp, "seeds", "give either \"seeds\" or \"replicates\" (with an optional "
				      "first \"seed\"), not both");
	if (!jp.failed && seeds) {
		int n = cJSON_GetArraySize(seeds);
		if (n < 1)
			jp_fail(&jp, "seeds", "expected a non-empty list of integer seeds");
		sw->seeds = calloc((size_t)(n > 0 ? n : 1), sizeof *sw->seeds);
		for (int i = 0; i < n && !jp.failed; i++) {
			const cJSON *s = cJSON_GetArrayItem(seeds, i);
			char p[JP_PATH_MAX];
			jp_index(p, "seeds", i);
			if (!jp_is_integer(s) || s->valuedouble < 0) {
				jp_expected(&jp, p, s, "an integer >= 0");
				break;
			}
			sw->seeds[i] = (uint64_t)s->valuedouble;
			for (int j = 0; j < i; j++)
				if (sw->seeds[j] == sw->seeds[i])
					jp_fail(&jp, p, "seed %llu appears twice",
						(unsigned long long)sw->seeds[i]);
			sw->nseeds = i + 1;
		}
	} else if (!jp.failed) {
		if (reps < 0)
			reps = 1;
		sw->seeds = calloc((size_t)reps, sizeof *sw->seeds);
		if (!sw->seeds)
			jp_fail(&jp, NULL, "out of memory");
		for (int64_t i = 0; sw->seeds && i < reps; i++)
			sw->seeds[i] = (uint64_t)(seed0 + i);
		sw->nseeds = (int)reps;
	}
	sw->timeout_s = jp_num(&jp, root, "", "timeout_s", 3600, 0.001, 1e9);
	jp_str(&jp, root, "", "description", NULL);

	/* the product */
	if (!jp.failed) {
		long np = 1;
		for (int d = sw->ndims - 1; d >= 0; d--) {
			sw->stride[d] = np;
			if (np > 10000000L / sw->dims[d].n) {
				jp_fail(&jp, NULL, "more than 10 million points: too large a sweep");
				break;
			}
			np *= sw->dims[d].n;
		}
		sw->npoints = np;
		if (!jp.failed && (double)np * sw->nseeds > 1e7)
			jp_fail(&jp, NULL, "more than 10 million runs: too large a sweep");
	}

	/* the canonical form: everything that decides the results */
	if (!jp.failed) {
		sw->canon = cJSON_CreateObject();
		cJSON_AddItemToObject(sw->canon, "base", base);
		base = NULL;
		if (vary)
			cJSON_AddItemToObject(sw->canon, "vary", cJSON_Duplicate(vary, 1));
		if (zip)
			cJSON_AddItemToObject(sw->canon, "zip", cJSON_Duplicate(zip, 1));
		cJSON *sa = cJSON_AddArrayToObject(sw->canon, "seeds");
		for (int i = 0; i < sw->nseeds; i++)
			cJSON_AddItemToArray(sa, cJSON_CreateNumber((double)sw->seeds[i]));
		char *t = cJSON_Print(sw->canon);
		if (t) {
			size_t n = strlen(t);
			sw->canon_text = malloc(n + 2);
			if (sw->canon_text)
				sfmt(sw->canon_text, n + 2, "%s\n", t);
		}
		free(t);
		if (!sw->canon_text)
			jp_fail(&jp, NULL, "out of memory");
		/* keys and value arrays must point into canon, which outlives root */
		const cJSON *cv = cJSON_GetObjectItemCaseSensitive(sw->canon, "vary");
		const cJSON *cz = cJSON_GetObjectItemCaseSensitive(sw->canon, "zip");
		int d = 0, k = 0;
		const cJSON *c;
		if (cv)
			cJSON_ArrayForEach(c, cv) {
				sw->dims[d].keys[0] = c->string;
				sw->dims[d].vals[0] = c;
				sw->keys[k++] = c->string;
				d++;
			}
		if (cz)
			cJSON_ArrayForEach(z, cz) {
				int i = 0;
				cJSON_ArrayForEach(c, z) {
					sw->dims[d].keys[i] = c->string;
					sw->dims[d].vals[i] = c;
					sw->keys[k++] = c->string;
					i++;
				}
				d++;
			}
		sw->base = cJSON_GetObjectItemCaseSensitive(sw->canon, "base");
	}
	cJSON_Delete(base);
	cJSON_Delete(root);
	if (jp.failed) {
		sfmt(msg, msgn, "%s", jp.msg);
		sweep_free(sw);
		return 2;
	}
	return 0;
}

/* For the fuzz target (tests/fuzz/fuzz_sweep.c): reads and frees a sweep file. */
int sweep_check_file(const char *file, char *msg, size_t msgn)
{
	struct sweep sw;
	int rc = sweep_load(&sw, file, msg, msgn);
	if (rc == 0)
		sweep_free(&sw);
	return rc;
}

static void run_name(const struct sweep *sw, long run, char *out, size_t n)
{
	sfmt(out, n, "p%04ld_s%llu", run / sw->nseeds,
		 (unsigned long long)sw->seeds[run % sw->nseeds]);
}

/* ---------------------------------------------------------------- outputs */

/* Per-VM metrics: the column name and the dotted path into the VM's results. The
 * first VM_ALWAYS are columns for every VM (empty cells where null, e.g. an
 * unfinished completion); the others only for VMs some run reports them for. */
static const char *const vm_metrics[] = { "completion_ms", "cpu_ms", "work_ms", "spin_ms",
					  "long_waits", "cosched_ms", "mode_switches",
					  "requests", "wake_p99_us", "p2p_long_waits" };
static const char *const vm_metric_paths[] = { "completion_ms", "cpu_ms", "work_ms", "spin_ms",
					       "spin.long_waits", "cosched_ms", "mode_switches",
					       "requests", "wake_latency_us.p99", "p2p.long_waits" };
enum { VM_NMETRICS = 10, VM_ALWAYS = 5 };

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
static const char *const top_metrics[] = { "sim_ms", "host.utilization",
					   "host.idle_with_runnable_ms",
					   "host.context_switches", "host.migrations" };
enum { TOP_NMETRICS = 5 };

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

/* Checks that a run's output looks like a results document; returns NULL or why. */
static const char *results_problem(const cJSON *doc)
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

static void outputs_free(struct outputs *o)
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

/* Takes the metrics out of a results document. Returns 0 or -1 (out of memory). */
static int extract(struct outputs *o, const cJSON *doc, struct runvals *rv)
{
	const cJSON *host = cJSON_GetObjectItemCaseSensitive(doc, "host");
	for (int i = 0; i < TOP_NMETRICS; i++) {
		const char *m = top_metrics[i];
		const cJSON *v = !strncmp(m, "host.", 5) ? cJSON_GetObjectItemCaseSensitive(host, m + 5)
							 : cJSON_GetObjectItemCaseSensitive(doc, m);
		rv->has[i] = (unsigned char)get_num(v, &rv->top[i]);
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
static int write_outputs(const struct sweep *sw, const char *dir, const unsigned char *sel,
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
	sb_puts(&sum, ",metric,runs,n,mean,sd,ci95\n");
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
			int n = 0;
			for (int s = 0; s < sw->nseeds; s++) {
				long r = p * sw->nseeds + s;
				if (o->state[r] == RS_OK && column_value(&o->cols[c], &o->vals[r], &xs[n]))
					n++;
			}
			struct sweep_stats st;
			sweep_stats(xs, n, &st);
			sb_puts(&sum, pre.p ? pre.p : "");
			sb_puts(&sum, ",");
			sweep_csv_field(&sum, o->cols[c].name);
			sb_printf(&sum, ",%d,%d", sw->nseeds, n);
			double f[3] = { st.mean, st.sd, st.ci95 };
			for (int i = 0; i < 3; i++) {
				sb_puts(&sum, ",");
				if (!isnan(f[i])) { /* 15 digits: computed, not measured */
					sfmt(num, sizeof num, "%.15g", f[i] == 0 ? 0 : f[i]);
					sb_puts(&sum, num);
				}
			}
			sb_puts(&sum, "\n");
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

/* ---------------------------------------------------------------- the output dir */

static int parse_long(const char *s, long min, long max, long *out)
{
	char *end;
	errno = 0;
	long v = strtol(s, &end, 10);
	if (!*s || *end || errno || v < min || v > max)
		return -1;
	*out = v;
	return 0;
}

/* Whether DIR can hold this sweep: 0 new or empty, 1 holds this very sweep, 2
 * refused (message printed). Changes nothing. */
static int check_dir(const char *dir, const struct sweep *sw, const char *src)
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
		char *old = sweep_read_file(path, NULL);
		if (!old) {
			fprintf(stderr, "vcpusim sweep: cannot read %s: %s\n", path, strerror(errno));
			return 2;
		}
		if (!strcmp(old, sw->canon_text)) {
			free(old);
			return 1;
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

static int make_dir(const char *dir, const struct sweep *sw)
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
		const char *t = strstr(e->d_name, ".part.");
		t = t ? t + 6 : strstr(e->d_name, ".tmp.") ? strstr(e->d_name, ".tmp.") + 5 : NULL;
		long pid;
		if (t && parse_long(t, 1, LONG_MAX, &pid) == 0 && kill((pid_t)pid, 0) < 0 &&
		    errno == ESRCH) {
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

/* ---------------------------------------------------------------- processes */

static volatile sig_atomic_t g_stop;

static void on_stop(int sig)
{
	g_stop = sig;
}

static void on_child(int sig)
{
	(void)sig; /* only wakes the sleep in pool_run */
}

struct job {
	long idx;
	pid_t pid;
	double start;
	int timed_out;
	int validate;           /* `validate SCEN` rather than `run SCEN -o OUT` */
	char scen[PATH_MAX], out[PATH_MAX], err[PATH_MAX];
};

struct pool {
	int jobs;
	double timeout_s;
	const char *exe;
	int use_path;           /* exe is the VCPUSIM_SWEEP_RUNNER hook: search PATH */
	/* fills j for task idx: 0 launch, -1 skip, other: stop with that code */
	int (*prepare)(void *ctx, long idx, struct job *j);
	/* a task ended (wait status): 0 go on, other: stop launching, return it */
	int (*done)(void *ctx, struct job *j, int status);
	void (*progress)(void *ctx, int running, int final);
	void *ctx;
};

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
static int pool_run(struct pool *pl, long n)
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
		while (!stop && !g_stop && running < pl->jobs && next < n) {
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
		if (!running && (stop || g_stop || next >= n))
			break;
		if (g_stop && !killed) {
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
	return g_stop ? 128 + g_stop : stop;
}

/* Why a process ended badly, or NULL if it exited 0. */
static const char *status_text(int st, int timed_out, double timeout_s, char *buf, size_t n)
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
static void first_line(const char *path, char *out, size_t n)
{
	out[0] = 0;
	FILE *f = fopen(path, "r");
	if (!f)
		return;
	if (fgets(out, (int)n, f))
		out[strcspn(out, "\n")] = 0;
	fclose(f);
}

/* ---------------------------------------------------------------- sweep runs */

struct runctx {
	const struct sweep *sw;
	const char *dir;
	const unsigned char *sel;   /* per point */
	const unsigned char *need;  /* per point: some run still missing */
	char tmpdir[PATH_MAX];
	long total, done, failed, done_at_start;
	double t0;
	int tty, shown;
	char msg[2048];
};

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
		sfmt(c->msg, sizeof c->msg, "%s: point %ld (%s): %s", c->sw->file, p, label, why);
		return 2;
	}
	j->validate = 1;
	sfmt(j->scen, sizeof j->scen, "%s/point-%ld.json", c->tmpdir, p);
	sfmt(j->err, sizeof j->err, "%s/point-%ld.err", c->tmpdir, p);
	int rc = write_json(j->scen, doc);
	cJSON_Delete(doc);
	if (rc < 0) {
		sfmt(c->msg, sizeof c->msg, "vcpusim sweep: cannot write %s: %s", j->scen,
			 strerror(errno));
		return 1;
	}
	return 0;
}

static int done_validate(void *vc, struct job *j, int st)
{
	struct runctx *c = vc;
	char buf[256], line[1024], label[1024];
	const char *bad = status_text(st, j->timed_out, c->sw->timeout_s, buf, sizeof buf);
	first_line(j->err, line, sizeof line);
	unlink(j->scen);
	unlink(j->err);
	if (!bad || g_stop)
		return 0;
	point_label(c->sw, j->idx, label, sizeof label);
	/* the checker names our temporary file; say which point it was instead */
	const char *m = line;
	size_t sl = strlen(j->scen);
	if (!strncmp(m, j->scen, sl) && !strncmp(m + sl, ": ", 2))
		m += sl + 2;
	if (WIFEXITED(st) && WEXITSTATUS(st) == 2 && !j->timed_out) {
		sfmt(c->msg, sizeof c->msg, "%s: point %ld (%s): the scenario is invalid: %s",
			 c->sw->file, j->idx, label, *m ? m : "(no message)");
		return 2;
	}
	sfmt(c->msg, sizeof c->msg, "vcpusim sweep: could not check point %ld (%s): %s%s%s",
		 j->idx, label, bad, *m ? ": " : "", m);
	return 1;
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
	if (file_exists(j->out))
		return -1;
	cJSON *doc = point_scenario(sw, p, sw->seeds[r % sw->nseeds], why, sizeof why);
	if (!doc) {
		sfmt(c->msg, sizeof c->msg, "%s: point %ld: %s", sw->file, p, why);
		return 2;
	}
	sfmt(j->scen, sizeof j->scen, "%s/runs/%s.scenario.json", c->dir, name);
	sfmt(j->err, sizeof j->err, "%s/runs/%s.err", c->dir, name);
	sfmt(j->out, sizeof j->out, "%s/runs/%s.json.part.%ld", c->dir, name, (long)getpid());
	int rc = write_json(j->scen, doc);
	cJSON_Delete(doc);
	if (rc < 0) {
		sfmt(c->msg, sizeof c->msg, "vcpusim sweep: cannot write %s: %s", j->scen,
			 strerror(errno));
		return 1;
	}
	return 0;
}

static int done_run(void *vc, struct job *j, int st)
{
	struct runctx *c = vc;
	const struct sweep *sw = c->sw;
	char name[64], final[PATH_MAX], failed[PATH_MAX], buf[600];
	run_name(sw, j->idx, name, sizeof name);
	sfmt(final, sizeof final, "%s/runs/%s.json", c->dir, name);
	sfmt(failed, sizeof failed, "%s/runs/%s.failed", c->dir, name);
	if (g_stop) { /* interrupted: neither a result nor a failure */
		unlink(j->out);
		return 0;
	}
	const char *bad = status_text(st, j->timed_out, sw->timeout_s, buf, sizeof buf);
	if (!bad) {
		struct jp jp;
		jp_init(&jp, j->out);
		cJSON *doc = jp_load_file(&jp, j->out);
		const char *prob = doc ? results_problem(doc) : jp.msg;
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
	char *err = sweep_read_file(j->err, NULL);
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
		sfmt(c->msg, sizeof c->msg,
			 "%s: point %ld: the run rejected its scenario %s: %s", sw->file,
			 j->idx / sw->nseeds, j->scen, line);
		return 2;
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
		"runs at a time (default: the number of CPUs), each a separate `vcpusim run`.\n"
		"Writes DIR/results.csv (a row a run), DIR/summary.csv (n, mean, sd, 95%% CI per\n"
		"point and metric) and every run's results in DIR/runs/. Rerun into the same DIR\n"
		"to finish an interrupted sweep (or retry failed runs): only missing runs run.\n\n"
		"  -o DIR         output directory (created)\n"
		"  -j N           runs at a time (default: CPUs)\n"
		"  --shard K/N    run only the K-th of N slices of the points (1 <= K <= N)\n"
		"  --timeout SEC  kill a run after SEC seconds and count it failed (default:\n"
		"                 the sweep's timeout_s, else 3600)\n"
		"  --merge DIR... combine the output directories of shards into OUT\n"
		"  -n, --dry-run  check every point's scenario, list the points and count the\n"
		"                 runs (with -o: how many are done already); run nothing\n\n"
		"Exit: 0 all runs succeeded, 1 some failed (see DIR/runs/*.failed), 2 bad input.\n"
		"The sweep file format: docs/sweeps.md. Environment: VCPUSIM_SWEEP_RUNNER names a\n"
		"program used instead of vcpusim (called as `PROG run SCEN -o OUT` and\n"
		"`PROG validate SCEN`), for tests.\n");
}


static void install_signals(struct sigaction *old)
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

static void restore_signals(const struct sigaction *old)
{
	sigaction(SIGINT, &old[0], NULL);
	sigaction(SIGTERM, &old[1], NULL);
	sigaction(SIGHUP, &old[2], NULL);
	sigaction(SIGCHLD, &old[3], NULL);
}

static int report_outputs(const struct outputs *o, const char *dir)
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

static int copy_file(const char *from, const char *to)
{
	size_t n;
	char *data = sweep_read_file(from, &n);
	if (!data)
		return -1;
	int rc = sweep_write_file(to, data, n);
	free(data);
	return rc;
}

static int do_merge(char **dirs, int ndirs, const char *out)
{
	char path[PATH_MAX], msg[1024];
	char *first = NULL;
	for (int i = 0; i < ndirs; i++) {
		sfmt(path, sizeof path, "%s/sweep.json", dirs[i]);
		char *t = sweep_read_file(path, NULL);
		if (!t) {
			fprintf(stderr, "vcpusim sweep --merge: %s: not a sweep output directory "
					"(cannot read %s: %s)\n", dirs[i], path, strerror(errno));
			free(first);
			return 2;
		}
		if (first && strcmp(first, t)) {
			fprintf(stderr, "vcpusim sweep --merge: %s/sweep.json differs from "
					"%s/sweep.json: these are not shards of one sweep\n", dirs[i], dirs[0]);
			free(t);
			free(first);
			return 2;
		}
		if (!first)
			first = t;
		else
			free(t);
	}
	free(first);
	struct sweep sw;
	sfmt(path, sizeof path, "%s/sweep.json", dirs[0]);
	if (sweep_load(&sw, path, msg, sizeof msg)) {
		fprintf(stderr, "vcpusim sweep --merge: %s\n", msg);
		return 2;
	}
	int rc = check_dir(out, &sw, path);
	if (rc == 2 || make_dir(out, &sw)) {
		sweep_free(&sw);
		return rc == 2 ? 2 : 1;
	}
	long nruns = sw.npoints * sw.nseeds;
	char name[64], src[PATH_MAX], dst[PATH_MAX];
	static const char *const ext_ok[] = { ".json", ".scenario.json" };
	static const char *const ext_bad[] = { ".failed", ".scenario.json" };
	for (long r = 0; r < nruns && !rc; r++) {
		run_name(&sw, r, name, sizeof name);
		sfmt(dst, sizeof dst, "%s/runs/%s.json", out, name);
		if (file_exists(dst))
			continue;
		int found = 0;
		for (int pass = 0; pass < 2 && !found; pass++)
			for (int i = 0; i < ndirs && !found; i++) {
				const char *const *ext = pass ? ext_bad : ext_ok;
				sfmt(src, sizeof src, "%s/runs/%s%s", dirs[i], name, ext[0]);
				if (!file_exists(src))
					continue;
				found = 1;
				for (int e = 0; e < 2; e++) {
					sfmt(src, sizeof src, "%s/runs/%s%s", dirs[i], name, ext[e]);
					sfmt(dst, sizeof dst, "%s/runs/%s%s", out, name, ext[e]);
					if (file_exists(src) && strcmp(src, dst) && copy_file(src, dst) < 0) {
						fprintf(stderr, "vcpusim sweep --merge: cannot copy %s to %s: %s\n",
							src, dst, strerror(errno));
						rc = 1;
					}
				}
				if (!pass) {
					sfmt(dst, sizeof dst, "%s/runs/%s.failed", out, name);
					unlink(dst);
				}
			}
	}
	struct outputs o = { 0 };
	if (!rc)
		rc = write_outputs(&sw, out, NULL, &o);
	if (!rc)
		rc = report_outputs(&o, out);
	outputs_free(&o);
	sweep_free(&sw);
	return rc;
}

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
			if (parse_long(v, 1, 4096, &jobs) < 0)
				goto bad_arg;
			i++;
		} else if (!strncmp(a, "-j", 2) && a[2]) {
			if (parse_long(a + 2, 1, 4096, &jobs) < 0)
				goto bad_arg;
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
bad_arg:
		fprintf(stderr, "vcpusim sweep: %s: expected a number of runs >= 1\n", a);
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

	struct runctx c = { .sw = &sw, .dir = out };
	unsigned char *sel = calloc((size_t)sw.npoints, 1), *need = calloc((size_t)sw.npoints, 1);
	if (!sel || !need) {
		fprintf(stderr, "vcpusim sweep: out of memory\n");
		free(sel);
		free(need);
		sweep_free(&sw);
		return 1;
	}
	c.sel = sel;
	c.need = need;
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
		if (rc == 1 && file_exists(path))
			c.done++;
		else
			need[p] = 1;
	}
	c.done_at_start = c.done;
	if (dry) /* check them all, done or not */
		memcpy(need, sel, (size_t)sw.npoints);

	char exe[PATH_MAX];
	int use_path = 0;
	const char *hook = getenv("VCPUSIM_SWEEP_RUNNER");
	if (hook && *hook) {
		sfmt(exe, sizeof exe, "%s", hook);
		use_path = 1;
	} else {
		ssize_t k = readlink("/proc/self/exe", exe, sizeof exe - 1);
		if (k > 0)
			exe[k] = 0;
		else
			sfmt(exe, sizeof exe, "/proc/self/exe");
	}
	struct pool pl = { .jobs = (int)jobs, .timeout_s = sw.timeout_s, .exe = exe,
			   .use_path = use_path, .ctx = &c };
	struct sigaction old[4];
	g_stop = 0;
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
		if (c.msg[0])
			fprintf(stderr, "%s\n", c.msg);
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
	rc = pool_run(&pl, sw.npoints * sw.nseeds);
	if (rc > 128) {
		fprintf(stderr, "vcpusim sweep: interrupted; %ld of %ld runs done, run the same "
				"command again to finish\n", c.done, c.total);
		goto end;
	}
	if (rc) {
		if (c.msg[0])
			fprintf(stderr, "%s\n", c.msg);
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
	sweep_free(&sw);
	return rc;
}
