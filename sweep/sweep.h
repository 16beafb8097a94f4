/* sweep.h: helpers shared by `vcpusim sweep` (sweep/) and `vcpusim plot`
 * (plots/plot.c): a growable text buffer, atomic file writes, deterministic number
 * formatting, CSV fields, and the per-point statistics (mean, sd, 95% CI). */
#ifndef VCPUSIM_SWEEP_SWEEP_H
#define VCPUSIM_SWEEP_SWEEP_H
#include <stddef.h>

/* Growable NUL-terminated text; on allocation failure oom is set and later
 * appends are ignored (the writer checks oom once). */
struct sbuf {
	char *p;
	size_t len, cap;
	int oom;
};
void sb_add(struct sbuf *b, const char *s, size_t n);
void sb_puts(struct sbuf *b, const char *s);
void sb_printf(struct sbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void sb_free(struct sbuf *b);

/* Writes data to path through a temporary file in the same directory and a
 * rename (write_file_atomic of sim/cli.h). Returns 0, or -1 with errno set. */
int sweep_write_file(const char *path, const char *data, size_t len);
/* Reads a whole regular file (NUL-terminated) of at most SWEEP_READ_MAX bytes
 * (jp_read_file: a regular file's size is checked before reading, a NUL byte
 * stops /dev/zero); NULL on failure with *why (when why is not NULL) saying
 * why: cannot open, not a regular file (a FIFO would block), too large, not
 * text. What the sweep reads back from its output directory may have been
 * replaced by anything (issue 13, item 9). */
#define SWEEP_READ_MAX ((size_t)256 << 20)
char *sweep_read_file(const char *path, size_t *len, const char **why);

/* Shortest of %.15g / %.17g that reads back exactly: same double, same text. */
void sweep_fmt_num(char *out, size_t n, double v);
/* Appends s as one CSV field, quoted only when it holds , " or a line break; a
 * text that a spreadsheet would take for a formula (= + - @ tab CR first, not a
 * number) gets a leading apostrophe inside quotes (OWASP, "CSV Injection"). */
void sweep_csv_field(struct sbuf *b, const char *s);

/* Sample statistics of x[0..n): n, mean, sd (n-1 denominator) and the half-width
 * of the 95% confidence interval of the mean, t(0.975, n-1) * sd / sqrt(n) with
 * GSL's Student t quantile. sd and ci95 are NaN when n < 2, mean when n < 1. */
struct sweep_stats {
	int n;
	double mean, sd, ci95;
	double median, min, max;        /* NaN when n < 1 */
};
void sweep_stats(const double *x, int n, struct sweep_stats *st);

/* Reads a sweep file and discards it: 0 if valid, else 2 with the message in msg
 * (the fuzz target's entry point). */
int sweep_check_file(const char *file, char *msg, size_t msgn);

#endif
