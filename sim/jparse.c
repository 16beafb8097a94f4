/* jparse.c: typed JSON access with path-naming, sticky errors (see jparse.h). */
#include "sim/jparse.h"
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <fcntl.h>
#include <unistd.h>

void jp_init(struct jp *jp, const char *file)
{
	jp->file = file;
	jp->failed = 0;
	jp->msg[0] = 0;
}

void jp_fail(struct jp *jp, const char *path, const char *fmt, ...)
{
	if (jp->failed)
		return;
	jp->failed = 1;
	char detail[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(detail, sizeof detail, fmt, ap);
	va_end(ap);
	if (path && *path)
		snprintf(jp->msg, sizeof jp->msg, "%s: %s: %s", jp->file, path, detail);
	else
		snprintf(jp->msg, sizeof jp->msg, "%s: %s", jp->file, detail);
}

static void describe(const cJSON *v, char *out, size_t n)
{
	if (!v) {
		snprintf(out, n, "nothing");
		return;
	}
	char *s = cJSON_PrintUnformatted(v);
	if (!s) {
		snprintf(out, n, "a value");
		return;
	}
	if (strlen(s) > 60)
		snprintf(out, n, "%.57s...", s);
	else
		snprintf(out, n, "%s", s);
	free(s);
}

void jp_expected(struct jp *jp, const char *path, const cJSON *got, const char *what)
{
	char g[80];
	describe(got, g, sizeof g);
	jp_fail(jp, path, "expected %s, got %s", what, g);
}

/* Bounded concatenation (paths longer than JP_PATH_MAX - 1 are cut). */
static void append(char *out, size_t *len, const char *s)
{
	while (*s && *len < JP_PATH_MAX - 1)
		out[(*len)++] = *s++;
	out[*len] = 0;
}

void jp_join(char *out, const char *parent, const char *key)
{
	char tmp[JP_PATH_MAX];
	size_t len = 0;
	tmp[0] = 0;
	if (parent && *parent) {
		append(tmp, &len, parent);
		append(tmp, &len, ".");
	}
	append(tmp, &len, key);
	memcpy(out, tmp, len + 1);
}

void jp_index(char *out, const char *parent, int i)
{
	char tmp[JP_PATH_MAX], num[16];
	size_t len = 0;
	tmp[0] = 0;
	snprintf(num, sizeof num, "[%d]", i);
	append(tmp, &len, parent ? parent : "");
	append(tmp, &len, num);
	memcpy(out, tmp, len + 1);
}

int jp_is_integer(const cJSON *v)
{
	if (!cJSON_IsNumber(v))
		return 0;
	double d = v->valuedouble;
	return isfinite(d) && d == floor(d) && fabs(d) < 9.007199254740992e15;
}

static const cJSON *member(struct jp *jp, const cJSON *obj, const char *key)
{
	if (jp->failed || !obj)
		return NULL;
	return cJSON_GetObjectItemCaseSensitive(obj, key);
}

int64_t jp_int(struct jp *jp, const cJSON *obj, const char *path, const char *key,
	       int64_t def, int64_t min, int64_t max)
{
	const cJSON *v = member(jp, obj, key);
	if (!v)
		return def;
	char p[JP_PATH_MAX], what[128];
	jp_join(p, path, key);
	if (max == INT64_MAX)
		snprintf(what, sizeof what, "an integer >= %lld", (long long)min);
	else
		snprintf(what, sizeof what, "an integer in [%lld, %lld]", (long long)min,
			 (long long)max);
	if (!jp_is_integer(v) || v->valuedouble < (double)min || v->valuedouble > (double)max) {
		jp_expected(jp, p, v, what);
		return def;
	}
	return (int64_t)v->valuedouble;
}

double jp_num(struct jp *jp, const cJSON *obj, const char *path, const char *key,
	      double def, double min, double max)
{
	const cJSON *v = member(jp, obj, key);
	if (!v)
		return def;
	char p[JP_PATH_MAX], what[128];
	jp_join(p, path, key);
	if (isinf(max))
		snprintf(what, sizeof what, "a number >= %g", min);
	else
		snprintf(what, sizeof what, "a number in [%g, %g]", min, max);
	if (!cJSON_IsNumber(v) || !isfinite(v->valuedouble) || v->valuedouble < min ||
	    v->valuedouble > max) {
		jp_expected(jp, p, v, what);
		return def;
	}
	return v->valuedouble;
}

int jp_bool(struct jp *jp, const cJSON *obj, const char *path, const char *key, int def)
{
	const cJSON *v = member(jp, obj, key);
	if (!v)
		return def;
	if (!cJSON_IsBool(v)) {
		char p[JP_PATH_MAX];
		jp_join(p, path, key);
		jp_expected(jp, p, v, "true or false");
		return def;
	}
	return cJSON_IsTrue(v);
}

const char *jp_str(struct jp *jp, const cJSON *obj, const char *path, const char *key,
		   const char *def)
{
	const cJSON *v = member(jp, obj, key);
	if (!v)
		return def;
	if (!cJSON_IsString(v) || !v->valuestring) {
		char p[JP_PATH_MAX];
		jp_join(p, path, key);
		jp_expected(jp, p, v, "a string");
		return def;
	}
	const char *why = jp_text_problem(v->valuestring);
	if (why) {
		char p[JP_PATH_MAX];
		jp_join(p, path, key);
		jp_fail(jp, p, "%s", why);
		return def;
	}
	return v->valuestring;
}

int jp_enum(struct jp *jp, const cJSON *obj, const char *path, const char *key,
	    const char *const *names, int def)
{
	const cJSON *v = member(jp, obj, key);
	if (!v)
		return def;
	if (cJSON_IsString(v))
		for (int i = 0; names[i]; i++)
			if (strcmp(names[i], v->valuestring) == 0)
				return i;
	char p[JP_PATH_MAX], what[384] = "one of ";
	jp_join(p, path, key);
	for (int i = 0; names[i]; i++) {
		strncat(what, i ? ", \"" : "\"", sizeof what - strlen(what) - 1);
		strncat(what, names[i], sizeof what - strlen(what) - 1);
		strncat(what, "\"", sizeof what - strlen(what) - 1);
	}
	jp_expected(jp, p, v, what);
	return def;
}

const cJSON *jp_obj(struct jp *jp, const cJSON *obj, const char *path, const char *key,
		    int required)
{
	const cJSON *v = member(jp, obj, key);
	char p[JP_PATH_MAX];
	jp_join(p, path, key);
	if (!v) {
		if (required && !jp->failed)
			jp_fail(jp, p, "missing (expected an object)");
		return NULL;
	}
	if (!cJSON_IsObject(v)) {
		jp_expected(jp, p, v, "an object");
		return NULL;
	}
	return v;
}

const cJSON *jp_array(struct jp *jp, const cJSON *obj, const char *path, const char *key,
		      int required)
{
	const cJSON *v = member(jp, obj, key);
	char p[JP_PATH_MAX];
	jp_join(p, path, key);
	if (!v) {
		if (required && !jp->failed)
			jp_fail(jp, p, "missing (expected an array)");
		return NULL;
	}
	if (!cJSON_IsArray(v)) {
		jp_expected(jp, p, v, "an array");
		return NULL;
	}
	return v;
}

void jp_only_keys(struct jp *jp, const cJSON *obj, const char *path,
		  const char *const *allowed)
{
	if (jp->failed || !obj)
		return;
	const cJSON *c;
	cJSON_ArrayForEach(c, obj) {
		int ok = 0;
		for (int i = 0; allowed[i] && !ok; i++)
			ok = c->string && strcmp(c->string, allowed[i]) == 0;
		if (!ok) {
			char p[JP_PATH_MAX], list[384] = "";
			jp_join(p, path, c->string ? c->string : "?");
			for (int i = 0; allowed[i]; i++) {
				strncat(list, i ? ", " : "", sizeof list - strlen(list) - 1);
				strncat(list, allowed[i], sizeof list - strlen(list) - 1);
			}
			jp_fail(jp, p, "unknown key (allowed here: %s)", list);
			return;
		}
	}
}

const char *jp_text_problem(const char *s)
{
	const unsigned char *c = (const unsigned char *)s;
	while (*c) {
		if (*c < 0x20 || *c == 0x7f)
			return "a control character in the string (names and values are printed "
			       "on terminals and into CSV and gnuplot files)";
		if (*c < 0x80) {
			c++;
			continue;
		}
		/* UTF-8 (RFC 3629, section 4): no overlong forms, no surrogates, <= U+10FFFF */
		int n = *c >= 0xc2 && *c <= 0xdf ? 1 : *c >= 0xe0 && *c <= 0xef ? 2
		      : *c >= 0xf0 && *c <= 0xf4 ? 3 : -1;
		if (n < 0)
			return "not valid UTF-8";
		unsigned lo = 0x80, hi = 0xbf;
		if (*c == 0xe0)
			lo = 0xa0;
		else if (*c == 0xed)
			hi = 0x9f;
		else if (*c == 0xf0)
			lo = 0x90;
		else if (*c == 0xf4)
			hi = 0x8f;
		if (c[1] < lo || c[1] > hi)
			return "not valid UTF-8";
		for (int k = 2; k <= n; k++)
			if ((c[k] & 0xc0) != 0x80)
				return "not valid UTF-8";
		c += n + 1;
	}
	return NULL;
}

/* Duplicate keys: cJSON keeps both and every lookup finds the first, so a
 * scenario that says "vcpus" twice would silently use the first (RFC 8259,
 * section 4: names SHOULD be unique; here they must be). */
static int dup_cmp(const void *a, const void *b)
{
	const cJSON *x = *(const cJSON *const *)a, *y = *(const cJSON *const *)b;
	return strcmp(x->string ? x->string : "", y->string ? y->string : "");
}

static int check_dups(struct jp *jp, const cJSON *v, const char *path, int depth)
{
	if (!cJSON_IsObject(v) && !cJSON_IsArray(v))
		return 0;
	int n = 0;
	const cJSON *c;
	for (c = v->child; c; c = c->next)
		n++;
	if (cJSON_IsObject(v) && n > 1) {
		const cJSON **a = malloc((size_t)n * sizeof *a);
		if (!a) {
			jp_fail(jp, path, "out of memory");
			return -1;
		}
		int i = 0;
		for (c = v->child; c; c = c->next)
			a[i++] = c;
		qsort(a, (size_t)n, sizeof *a, dup_cmp);
		for (i = 1; i < n; i++)
			if (!dup_cmp(&a[i - 1], &a[i])) {
				char p[JP_PATH_MAX];
				jp_join(p, path, a[i]->string ? a[i]->string : "?");
				free(a);
				jp_fail(jp, p, "key given twice in one object");
				return -1;
			}
		free(a);
	}
	if (depth > 64)
		return 0;
	int i = 0;
	for (c = v->child; c; c = c->next, i++) {
		char p[JP_PATH_MAX];
		if (cJSON_IsObject(v))
			jp_join(p, path, c->string ? c->string : "?");
		else
			jp_index(p, path, i);
		if (check_dups(jp, c, p, depth + 1) < 0)
			return -1;
	}
	return 0;
}

/* "\u0000" would end the decoded C string early (a name cut short silently). */
static const char *nul_escape(const char *buf, size_t n)
{
	for (size_t i = 0; i + 1 < n; i++)
		if (buf[i] == '\\') {
			if (buf[i + 1] == 'u' && i + 5 < n && !memcmp(buf + i + 2, "0000", 4))
				return buf + i;
			i++;
		}
	return NULL;
}

static int line_of(const char *buf, const char *at)
{
	int line = 1;
	for (const char *p = buf; p < at; p++)
		line += *p == '\n';
	return line;
}

cJSON *jp_parse_text(struct jp *jp, const char *buf, size_t n, const char *what)
{
	const char *bad = nul_escape(buf, n);
	if (bad) {
		jp_fail(jp, NULL, "%s\\u0000 (a NUL character) near line %d", what, line_of(buf, bad));
		return NULL;
	}
	const char *end = NULL;
	cJSON *root = cJSON_ParseWithLengthOpts(buf, n, &end, 0);
	if (!root) {
		const char *at = end && end >= buf && end <= buf + n ? end : buf;
		jp_fail(jp, NULL, "%sinvalid JSON near line %d", what, line_of(buf, at));
		return NULL;
	}
	for (const char *p = end; p && p < buf + n; p++)
		if (!isspace((unsigned char)*p)) {
			cJSON_Delete(root);
			jp_fail(jp, NULL, "%strailing text after the JSON value", what);
			return NULL;
		}
	if (check_dups(jp, root, "", 0) < 0) {
		cJSON_Delete(root);
		return NULL;
	}
	return root;
}

/* Plain read(2) on a descriptor, not stdio: every scenario is read this way, and in
 * a fresh process (each `vcpusim run`) a FILE and its buffer cost more than reading
 * a scenario (issue 15, docs/performance.md "Replaying a captured trace"). */
char *jp_read_file(const char *file, size_t max, size_t *len, const char **why)
{
	int in = !strcmp(file, "-");
	int fd = in ? STDIN_FILENO : open(file, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		static _Thread_local char msg[160];
		snprintf(msg, sizeof msg, "cannot open: %s", strerror(errno));
		*why = msg;
		return NULL;
	}
	struct stat st;
	if (fstat(fd, &st) == 0) {
		if (S_ISDIR(st.st_mode)) {
			*why = "cannot read: is a directory";
			goto fail;
		}
		if (S_ISREG(st.st_mode) && (uint64_t)st.st_size > max) {
			*why = "cannot read: file too large";
			goto fail;
		}
	}
	size_t cap = 1 << 16, n = 0;
	char *buf = malloc(cap + 1);
	int rerr = 0;
	while (buf) {
		ssize_t got = read(fd, buf + n, cap - n);
		if (got < 0 && errno == EINTR)
			continue;
		if (got <= 0) {
			rerr = got < 0;
			break;
		}
		/* a NUL byte: not text (and /dev/zero stops here, not at the cap) */
		if (memchr(buf + n, 0, (size_t)got)) {
			free(buf);
			*why = "cannot read: not text (contains a NUL byte)";
			goto fail;
		}
		n += (size_t)got;
		if (n == cap) {
			if (cap >= max) {
				free(buf);
				*why = "cannot read: file too large";
				goto fail;
			}
			cap = cap * 2 > max ? max : cap * 2;
			char *nb = realloc(buf, cap + 1);
			if (!nb)
				free(buf);
			buf = nb;
		}
	}
	if (!buf || rerr) {
		*why = !buf ? "cannot read: out of memory" : "cannot read: input/output error";
		free(buf);
		goto fail;
	}
	if (!in)
		close(fd);
	buf[n] = 0;
	if (len)
		*len = n;
	return buf;
fail:
	if (!in)
		close(fd);
	return NULL;
}

cJSON *jp_load_file(struct jp *jp, const char *file)
{
	if (!strcmp(file, "-") && jp->file && !strcmp(jp->file, "-"))
		jp->file = "(standard input)";
	size_t n;
	const char *why = NULL;
	char *buf = jp_read_file(file, (size_t)256 << 20, &n, &why);
	if (!buf) {
		jp_fail(jp, NULL, "%s%s", why, strstr(why, "too large") ? " (more than 256 MiB)" : "");
		return NULL;
	}
	cJSON *root = jp_parse_text(jp, buf, n, "");
	free(buf);
	return root;
}

/* --set PATH=VALUE: PATH is key(.key|[i])* */
int jp_set_path(struct jp *jp, cJSON *root, const char *assignment)
{
	const char *eq = strchr(assignment, '=');
	char path[JP_PATH_MAX];
	if (!eq || eq == assignment || (size_t)(eq - assignment) >= sizeof path) {
		jp_fail(jp, NULL, "--set %s: expected PATH=VALUE", assignment);
		return -1;
	}
	memcpy(path, assignment, (size_t)(eq - assignment));
	path[eq - assignment] = 0;
	const char *value = eq + 1;
	/* the whole value must be JSON (`100ms` is the string "100ms", not 100) */
	if (nul_escape(value, strlen(value))) {
		jp_fail(jp, NULL, "--set %s: \\u0000 (a NUL character) in the value", assignment);
		return -1;
	}
	cJSON *val = cJSON_ParseWithOpts(value, NULL, 1);
	if (val) {
		if (check_dups(jp, val, path, 0) < 0) {
			cJSON_Delete(val);
			return -1;
		}
	} else {
		val = cJSON_CreateString(value);
	}
	if (!val) {
		jp_fail(jp, path, "out of memory");
		return -1;
	}

	cJSON *cur = root;
	const char *p = path;
	char done[JP_PATH_MAX] = "";
	for (;;) {
		char key[JP_PATH_MAX];
		int is_index = 0;
		long idx = 0;
		if (*p == '[') {
			char *end;
			errno = 0;
			idx = strtol(p + 1, &end, 10);
			if (end == p + 1 || *end != ']' || errno || idx < 0) {
				jp_fail(jp, NULL, "--set %s: bad array index in path", path);
				goto fail;
			}
			is_index = 1;
			p = end + 1;
		} else {
			size_t k = strcspn(p, ".[");
			if (k == 0 || k >= sizeof key) {
				jp_fail(jp, NULL, "--set %s: empty or overlong key in path", path);
				goto fail;
			}
			memcpy(key, p, k);
			key[k] = 0;
			p += k;
		}
		int last = *p == 0;
		if (!last && *p == '.')
			p++;
		if (!last && *p == 0) {
			jp_fail(jp, NULL, "--set %s: path ends with '.'", path);
			goto fail;
		}
		char here[JP_PATH_MAX];
		if (is_index) {
			if (!cJSON_IsArray(cur)) {
				jp_fail(jp, NULL, "--set %s: %s is not an array", path,
					*done ? done : "the document");
				goto fail;
			}
			int size = cJSON_GetArraySize(cur);
			if (idx >= size) {
				jp_fail(jp, NULL, "--set %s: index %ld out of range (%s has %d elements)",
					path, idx, *done ? done : "the document", size);
				goto fail;
			}
			jp_index(here, done, (int)idx);
			if (last) {
				cJSON_ReplaceItemInArray(cur, (int)idx, val);
				return 0;
			}
			cur = cJSON_GetArrayItem(cur, (int)idx);
		} else {
			if (!cJSON_IsObject(cur)) {
				jp_fail(jp, NULL, "--set %s: %s is not an object", path,
					*done ? done : "the document");
				goto fail;
			}
			jp_join(here, done, key);
			cJSON *next = cJSON_GetObjectItemCaseSensitive(cur, key);
			if (last) {
				if (next)
					cJSON_ReplaceItemInObjectCaseSensitive(cur, key, val);
				else
					cJSON_AddItemToObject(cur, key, val);
				return 0;
			}
			if (!next) {
				next = *p == '[' ? cJSON_CreateArray() : cJSON_CreateObject();
				cJSON_AddItemToObject(cur, key, next);
			}
			cur = next;
		}
		snprintf(done, sizeof done, "%s", here);
	}
fail:
	cJSON_Delete(val);
	return -1;
}
