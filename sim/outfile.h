/* outfile.h: how every output file is written (issue 13, item 2; docs/security.md).
 *
 * A regular file (or a name that does not exist yet) is written to a fresh temp
 * file created with O_CREAT|O_EXCL|O_NOFOLLOW in the directory of the final file
 * (after symlinks: `-o LINK` replaces the link's target, never the link), then
 * renamed over it, so an interrupted run never leaves a half-written output and a
 * planted symlink cannot redirect the write. "-" is standard output; a device,
 * FIFO or socket is written straight through (never replaced by a regular file:
 * `-o /dev/null` stays a device). */
#ifndef VCPUSIM_OUTFILE_H
#define VCPUSIM_OUTFILE_H
#include <stddef.h>
#include <stdio.h>

struct outfile {
	FILE *f;         /* write here */
	char *path;      /* the final file (symlinks resolved); NULL for stdout */
	char *tmp;       /* the temp file, renamed to path on commit; NULL: through */
};

/* Opens path for writing as above. Returns 0, or -1 with errno set (EISDIR for a
 * directory, ENOENT for a dangling symlink). */
int outfile_open(struct outfile *o, const char *path);
/* Flushes and closes; renames the temp file over the final one. 0, or -1 with
 * errno set (the temp file is removed). */
int outfile_commit(struct outfile *o);
/* Closes and removes the temp file: the final file is untouched. */
void outfile_abort(struct outfile *o);

/* The whole of data to path, as above. Returns 0 or -1 with errno set. */
int write_file_atomic(const char *path, const char *data, size_t len);

/* 1 when paths a and b name the same file: the same device and inode when both
 * exist, else the same path once the directory's symlinks are resolved; "-"
 * (stdin or stdout) is never the same as a file. Used to refuse an output that is also an input or
 * another output (`run S.json -o S.json`, `-o X --trace X`). */
int same_file(const char *a, const char *b);
/* 1 when two outputs are both "-" (standard output). */
int both_stdout(const char *a, const char *b);

/* The message for an output that would overwrite an input, printed on stderr by
 * the commands: "vcpusim CMD: OUT: is also INPUT: refusing to overwrite it". */
int refuse_same(const char *cmd, const char *out, const char *in);

#endif
