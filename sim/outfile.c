/* outfile.c: output files through a private temp file and rename, devices and
 * stdout written through (sim/outfile.h; issue 13, item 2). */
#ifndef _XOPEN_SOURCE
#define _XOPEN_SOURCE 700   /* realpath */
#endif
#include "sim/outfile.h"
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int outfile_open(struct outfile *o, const char *path)
{
	memset(o, 0, sizeof *o);
	if (!strcmp(path, "-")) {
		o->f = stdout;
		return 0;
	}
	struct stat st, lst;
	int exists = stat(path, &st) == 0;
	if (!exists) {
		int e = errno;
		if (e == ENOENT && lstat(path, &lst) == 0 && S_ISLNK(lst.st_mode))
			return errno = ENOENT, -1;   /* a dangling symlink */
		if (e != ENOENT || !*path)
			return errno = e == ENOENT || !e ? ENOENT : e, -1;
	}
	if (exists && S_ISDIR(st.st_mode)) {
		errno = EISDIR;
		return -1;
	}
	if (exists && !S_ISREG(st.st_mode)) {
		/* a device, FIFO or socket: written in place, never replaced */
		int fd = open(path, O_WRONLY | O_NOCTTY | O_CLOEXEC);
		o->f = fd >= 0 ? fdopen(fd, "w") : NULL;
		if (!o->f) {
			int e = errno;
			if (fd >= 0)
				close(fd);
			errno = e;
			return -1;
		}
		return 0;
	}
	/* the file a symlink finally names: the temp file goes into the target's
	 * directory and the rename replaces the target, not the link */
	o->path = exists && lstat(path, &lst) == 0 && S_ISLNK(lst.st_mode) ? realpath(path, NULL)
									   : strdup(path);
	if (!o->path)
		return -1;
	size_t n = strlen(o->path) + 48;
	o->tmp = malloc(n);
	if (!o->tmp) {
		free(o->path);
		o->path = NULL;
		errno = ENOMEM;
		return -1;
	}
	/* PATH.tmp.PID (a sweep removes these of dead processes on resume); a name
	 * already taken (a leftover, or planted) is never opened: the next is tried */
	mode_t mode = exists ? (st.st_mode & 07777) : 0666;
	int fd = -1;
	for (int k = 0; k < 100 && fd < 0; k++) {
		if (k == 0)
			snprintf(o->tmp, n, "%s.tmp.%ld", o->path, (long)getpid());
		else
			snprintf(o->tmp, n, "%s.tmp.%ld.%d", o->path, (long)getpid(), k);
		fd = open(o->tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode);
		if (fd < 0 && errno != EEXIST)
			break;
	}
	if (fd >= 0 && exists)
		(void)fchmod(fd, mode);   /* keep the replaced file's permissions */
	o->f = fd >= 0 ? fdopen(fd, "w") : NULL;
	if (!o->f) {
		int e = errno;
		if (fd >= 0) {
			close(fd);
			unlink(o->tmp);
		}
		free(o->tmp);
		free(o->path);
		o->tmp = o->path = NULL;
		errno = e;
		return -1;
	}
	return 0;
}

static void outfile_free(struct outfile *o)
{
	free(o->path);
	free(o->tmp);
	memset(o, 0, sizeof *o);
}

int outfile_commit(struct outfile *o)
{
	int err = 0;
	if (o->f == stdout) {
		err = fflush(stdout) != 0 || ferror(stdout);
	} else {
		err = ferror(o->f) != 0;
		err |= fclose(o->f) != 0;
		if (!err && o->tmp)
			err = rename(o->tmp, o->path) != 0;
	}
	int e = err ? (errno ? errno : EIO) : 0;
	if (err && o->tmp)
		unlink(o->tmp);
	outfile_free(o);
	errno = e;
	return err ? -1 : 0;
}

void outfile_abort(struct outfile *o)
{
	if (o->f == stdout)
		fflush(stdout);
	else if (o->f)
		fclose(o->f);
	if (o->tmp)
		unlink(o->tmp);
	outfile_free(o);
}

int write_file_atomic(const char *path, const char *data, size_t len)
{
	struct outfile o;
	if (outfile_open(&o, path) < 0)
		return -1;
	if (fwrite(data, 1, len, o.f) != len) {
		int e = errno;
		outfile_abort(&o);
		errno = e ? e : EIO;
		return -1;
	}
	return outfile_commit(&o);
}

/* path with its directory's symlinks resolved (the name itself kept) */
static char *canonical(const char *path)
{
	const char *slash = strrchr(path, '/');
	char *dir = slash ? strndup(path, (size_t)(slash - path) + (slash == path)) : strdup(".");
	char *rd = dir ? realpath(dir, NULL) : NULL;
	free(dir);
	if (!rd)
		return NULL;
	const char *base = slash ? slash + 1 : path;
	size_t n = strlen(rd) + strlen(base) + 2;
	char *out = malloc(n);
	if (out)
		snprintf(out, n, "%s/%s", rd, base);
	free(rd);
	return out;
}

int same_file(const char *a, const char *b)
{
	if (!a || !b)
		return 0;
	if (!strcmp(a, "-") || !strcmp(b, "-"))
		return 0;   /* stdin is not stdout; two outputs to stdout: both_stdout */
	struct stat sa, sb;
	int ea = stat(a, &sa) == 0, eb = stat(b, &sb) == 0;
	if (ea && eb)   /* two devices (-o /dev/null --trace /dev/null) do not clash */
		return S_ISREG(sa.st_mode) && sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino;
	if (ea != eb)
		return 0;
	char *ca = canonical(a), *cb = canonical(b);
	int same = ca && cb ? !strcmp(ca, cb) : !strcmp(a, b);
	free(ca);
	free(cb);
	return same;
}

int both_stdout(const char *a, const char *b)
{
	return a && b && !strcmp(a, "-") && !strcmp(b, "-");
}

int refuse_same(const char *cmd, const char *out, const char *in)
{
	fprintf(stderr, "vcpusim %s: %s: is also %s: refusing to overwrite it\n", cmd, out, in);
	return 2;
}
