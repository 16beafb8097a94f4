/* text.c: the small helpers of the sweep code and of `vcpusim plot`: a growable
 * text buffer, whole-file reads and atomic writes, exact number formatting, paths. */
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

/* snprintf for messages and paths, where a cut-off at n bytes is acceptable. */
void sfmt(char *out, size_t n, const char *fmt, ...)
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

char *sweep_read_file(const char *path, size_t *lenp, const char **why)
{
	const char *w = NULL;
	static _Thread_local char msg[160];
	struct stat st;
	char *text = NULL;
	if (stat(path, &st) < 0) {
		sfmt(msg, sizeof msg, "cannot open: %s", strerror(errno));
		w = msg;
	} else if (!S_ISREG(st.st_mode)) {
		w = "not a regular file";   /* a FIFO would block, a device never end */
	} else {
		size_t n = 0;
		text = jp_read_file(path, SWEEP_READ_MAX, &n, &w);
		if (text && lenp)
			*lenp = n;
		if (!text && w && strstr(w, "too large")) {
			sfmt(msg, sizeof msg, "%s (more than %zu MiB)", w, SWEEP_READ_MAX >> 20);
			w = msg;
		}
	}
	if (why)
		*why = w ? w : "cannot read";
	return text;
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

double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec * 1e-9;
}

int mkdir_p(const char *dir)
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

int file_exists(const char *path)
{
	struct stat st;
	return stat(path, &st) == 0;
}

int parse_long(const char *s, long min, long max, long *out)
{
	char *end;
	errno = 0;
	long v = strtol(s, &end, 10);
	if (!*s || *end || errno || v < min || v > max)
		return -1;
	*out = v;
	return 0;
}
