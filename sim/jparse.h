/* jparse.h: typed reading of scenario JSON with errors that name the file and the
 * JSON path (interface.md: "scenario.json: vms[1].vcpus: expected an integer >= 1,
 * got \"four\"").
 *
 * Errors are sticky: the first one is kept in jp->msg and every later call returns
 * its default, so a parser reads straight through and checks jp->failed once, and
 * whatever it allocated is freed by the normal path (no longjmp, no leaks). */
#ifndef VCPUSIM_JPARSE_H
#define VCPUSIM_JPARSE_H
#include <stdint.h>
#include <cjson/cJSON.h>

#define JP_PATH_MAX 256

struct jp {
	const char *file;
	int failed;
	char msg[768];
};

void jp_init(struct jp *jp, const char *file);
/* Records an error at path (printf-style detail) unless one is already recorded. */
void jp_fail(struct jp *jp, const char *path, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* Records "expected WHAT, got <value>". */
void jp_expected(struct jp *jp, const char *path, const cJSON *got, const char *what);

/* Joins a parent path and a key ("vms[1]" + "vcpus" -> "vms[1].vcpus"). */
void jp_join(char *out, const char *parent, const char *key);
void jp_index(char *out, const char *parent, int i);

/* Getters: key absent (or obj NULL) -> def; wrong type or range -> error. */
int64_t jp_int(struct jp *jp, const cJSON *obj, const char *path, const char *key,
	       int64_t def, int64_t min, int64_t max);
double jp_num(struct jp *jp, const cJSON *obj, const char *path, const char *key,
	      double def, double min, double max);
int jp_bool(struct jp *jp, const cJSON *obj, const char *path, const char *key, int def);
const char *jp_str(struct jp *jp, const cJSON *obj, const char *path, const char *key,
		   const char *def);
/* One of names[] (NULL-terminated); returns its index or def. */
int jp_enum(struct jp *jp, const cJSON *obj, const char *path, const char *key,
	    const char *const *names, int def);
/* Child object; NULL when absent (error if present and not an object, or if
 * required and absent). */
const cJSON *jp_obj(struct jp *jp, const cJSON *obj, const char *path, const char *key,
		    int required);
const cJSON *jp_array(struct jp *jp, const cJSON *obj, const char *path, const char *key,
		      int required);
/* Errors on any key of obj not in allowed[] (NULL-terminated): typos are errors. */
void jp_only_keys(struct jp *jp, const cJSON *obj, const char *path,
		  const char *const *allowed);
int jp_is_integer(const cJSON *v);

/* NULL when s is text a name or value may hold, else why not: a control
 * character, or bytes that are not UTF-8. jp_str applies it to every string. */
const char *jp_text_problem(const char *s);

/* Reads a whole file ("-": standard input) of at most max bytes, NUL-terminated;
 * NULL with *why set ("cannot open: ...", "cannot read: ...") when it cannot be read, is a directory, holds a NUL byte or
 * is larger (a regular file's size is checked before reading it). */
char *jp_read_file(const char *file, size_t max, size_t *len, const char **why);

/* Parses JSON text: the whole text one value, no key twice in an object, no
 * \u0000; else NULL with an error prefixed by what. */
cJSON *jp_parse_text(struct jp *jp, const char *buf, size_t n, const char *what);

/* Reads a whole file ("-": standard input) and parses it; on failure records a message naming the file
 * (and the line of a syntax error) and returns NULL. */
cJSON *jp_load_file(struct jp *jp, const char *file);

/* Applies a --set PATH=VALUE override to a parsed document. VALUE is read as JSON
 * when it parses as JSON, else as a string. Missing object keys along the path
 * are created; array indices must exist. Returns 0, or -1 with jp->msg set. */
int jp_set_path(struct jp *jp, cJSON *root, const char *assignment);

#endif
