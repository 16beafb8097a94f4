/* points.c: the sweep file (docs/sweeps.md): reads and checks it, keeps it in the
 * canonical form stored as DIR/sweep.json, and gives each point's scenario, label
 * and run names. */
#define _XOPEN_SOURCE 700 /* realpath */
#include "sweep/internal.h"
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

void sweep_free(struct sweep *sw)
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

const cJSON *point_value(const struct sweep *sw, long p, int k)
{
	int d = sw->key_dim[k];
	int idx = (int)((p / sw->stride[d]) % sw->dims[d].n);
	return cJSON_GetArrayItem(sw->dims[d].vals[sw->key_pos[k]], idx);
}

/* A varied value as text: strings bare, numbers in sweep_fmt_num, else JSON. */
void value_text(const cJSON *v, char *out, size_t n)
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
void point_label(const struct sweep *sw, long p, char *out, size_t n)
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
cJSON *point_scenario(const struct sweep *sw, long p, uint64_t seed, char *why, size_t whyn)
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

/* The index of the first seed equal to an earlier one, or -1: sorted (seed,
 * index) pairs, so that 10^6 seeds take milliseconds, not an O(n^2) scan. */
struct seed_at {
	uint64_t seed;
	long at;
};

static int cmp_seed_at(const void *a, const void *b)
{
	const struct seed_at *x = a, *y = b;
	if (x->seed != y->seed)
		return x->seed < y->seed ? -1 : 1;
	return x->at < y->at ? -1 : x->at > y->at;
}

static long first_duplicate(const uint64_t *seeds, long n)
{
	struct seed_at *v = malloc((size_t)(n > 0 ? n : 1) * sizeof *v);
	if (!v) { /* fall back on the scan */
		for (long i = 1; i < n; i++)
			for (long j = 0; j < i; j++)
				if (seeds[i] == seeds[j])
					return i;
		return -1;
	}
	for (long i = 0; i < n; i++)
		v[i] = (struct seed_at){ seeds[i], i };
	qsort(v, (size_t)n, sizeof *v, cmp_seed_at);
	long first = -1;
	for (long i = 1; i < n; i++) /* the second of each run of equal seeds */
		if (v[i].seed == v[i - 1].seed && (i < 2 || v[i - 1].seed != v[i - 2].seed) &&
		    (first < 0 || v[i].at < first))
			first = v[i].at;
	free(v);
	return first;
}

/* A workload's relative "file" (a trace to replay) made absolute, resolved as the
 * run would resolve it against `named_in`, the file that names it (workloads/trace.c:
 * that file's directory if the trace is there): the sweep inlines the base scenario
 * into DIR/runs/ *.scenario.json and DIR/sweep.json, where a relative path would
 * point elsewhere, and must run from any directory (issue 14 item 8). */
static void absolute_path(cJSON *f, const char *named_in)
{
	if (!cJSON_IsString(f) || !f->valuestring[0] || f->valuestring[0] == '/')
		return;
	const char *slash = strrchr(named_in, '/');
	char joined[PATH_MAX], real[PATH_MAX];
	if (slash)
		sfmt(joined, sizeof joined, "%.*s/%s", (int)(slash - named_in), named_in,
		     f->valuestring);
	else
		sfmt(joined, sizeof joined, "%s", f->valuestring);
	if (!realpath(joined, real))
		return; /* not there: left as written, the run says what is missing */
	cJSON_SetValuestring(f, real);
}

static void absolute_file(cJSON *workload, const char *named_in)
{
	absolute_path(cJSON_GetObjectItemCaseSensitive(workload, "file"), named_in);
}

static void absolute_workload_files(cJSON *scenario, const char *named_in)
{
	cJSON *vm;
	cJSON_ArrayForEach(vm, cJSON_GetObjectItemCaseSensitive(scenario, "vms"))
		absolute_file(cJSON_GetObjectItemCaseSensitive(vm, "workload"), named_in);
}

/* Varied values that name a trace: "vms[N].workload.file" strings and
 * "vms[N].workload" objects. */
static void absolute_varied_files(const cJSON *group, const char *named_in)
{
	const cJSON *c;
	cJSON_ArrayForEach(c, group) {
		if (!cJSON_IsArray(c) || !c->string)
			continue;
		size_t n = strlen(c->string);
		int whole = n >= 9 && !strcmp(c->string + n - 9, ".workload");
		int file = n >= 14 && !strcmp(c->string + n - 14, ".workload.file");
		cJSON *v;
		cJSON_ArrayForEach(v, c) {
			if (whole && cJSON_IsObject(v)) {
				absolute_file(v, named_in);
			} else if (file) {
				absolute_path(v, named_in);
			}
		}
	}
}

/* Reads a sweep file (or a DIR/sweep.json, which is one with the base inline).
 * Returns 0, or 2 with the message in msg. */
int sweep_load(struct sweep *sw, const char *file, char *msg, size_t msgn)
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
		else
			absolute_workload_files(base, path);
	} else if (bi && cJSON_IsObject(bi)) {
		base = cJSON_Duplicate(bi, 1);
		if (base)
			absolute_workload_files(base, file);
	} else if (bi) {
		jp_expected(&jp, "base", bi, "a scenario file name or an inline scenario object");
	}

	const cJSON *vary = jp_obj(&jp, root, "", "vary", 0);
	const cJSON *zip0 = jp.failed ? NULL : cJSON_GetObjectItemCaseSensitive(root, "zip");
	if (!jp.failed) { /* trace files named in varied values: relative to the sweep file */
		absolute_varied_files(vary, file);
		const cJSON *zg;
		if (cJSON_IsArray(zip0))
			cJSON_ArrayForEach(zg, zip0) absolute_varied_files(zg, file);
	}
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
		if (!sw->seeds)
			jp_fail(&jp, NULL, "out of memory");
		int i = 0;
		const cJSON *s;
		cJSON_ArrayForEach(s, seeds) { /* not GetArrayItem: a list, O(i) each */
			if (jp.failed)
				break;
			if (!jp_is_integer(s) || s->valuedouble < 0) {
				char p[JP_PATH_MAX];
				jp_index(p, "seeds", i);
				jp_expected(&jp, p, s, "an integer >= 0");
				break;
			}
			sw->seeds[i++] = (uint64_t)s->valuedouble;
		}
		if (!jp.failed) {
			long dup = first_duplicate(sw->seeds, n);
			if (dup >= 0) {
				char p[JP_PATH_MAX];
				jp_index(p, "seeds", (int)dup);
				jp_fail(&jp, p, "seed %llu appears twice",
					(unsigned long long)sw->seeds[dup]);
			}
		}
		sw->nseeds = n;
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

void run_name(const struct sweep *sw, long run, char *out, size_t n)
{
	sfmt(out, n, "p%04ld_s%llu", run / sw->nseeds,
		 (unsigned long long)sw->seeds[run % sw->nseeds]);
}

