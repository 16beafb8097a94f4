/* merge.c: `vcpusim sweep --merge DIR... -o OUT`: combines the output directories
 * of the shards of one sweep (--shard K/N) into one, with tables over all runs. */
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

/* Whether path is a regular file itself, not a symlink to one: a shard directory
 * may come from elsewhere, and a link in its runs/ must not copy its target (say
 * ~/.ssh/id_rsa) into OUT. */
static int regular_file(const char *path)
{
	struct stat st;
	return lstat(path, &st) == 0 && S_ISREG(st.st_mode);
}

/* Copies a regular file, never through a symlink (O_NOFOLLOW), atomically. */
static int copy_file(const char *from, const char *to)
{
	int fd = open(from, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return -1;
	struct stat st;
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		close(fd);
		errno = EINVAL;
		return -1;
	}
	struct sbuf b = { 0 };
	char chunk[65536];
	ssize_t k;
	while ((k = read(fd, chunk, sizeof chunk)) > 0 || (k < 0 && errno == EINTR))
		if (k > 0)
			sb_add(&b, chunk, (size_t)k);
	int err = k < 0 ? errno : b.oom ? ENOMEM : 0;
	close(fd);
	int rc = -1;
	if (!err)
		rc = sweep_write_file(to, b.p ? b.p : "", b.len);
	sb_free(&b);
	if (err)
		errno = err;
	return rc;
}

int do_merge(char **dirs, int ndirs, const char *out)
{
	char path[PATH_MAX], msg[1024];
	char *first = NULL;
	for (int i = 0; i < ndirs; i++) {
		sfmt(path, sizeof path, "%s/sweep.json", dirs[i]);
		const char *why;
		char *t = sweep_read_file(path, NULL, &why);
		if (!t) {
			fprintf(stderr, "vcpusim sweep --merge: %s: not a sweep output directory "
					"(%s: %s)\n", dirs[i], path, why);
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
	rc = 0; /* OUT new, or holding this sweep already (an earlier merge): add to it */
	long nruns = sw.npoints * sw.nseeds;
	char name[64], src[PATH_MAX], dst[PATH_MAX];
	static const char *const ext_ok[] = { ".json", ".scenario.json" };
	static const char *const ext_bad[] = { ".failed", ".scenario.json" };
	for (long r = 0; r < nruns && !rc; r++) {
		run_name(&sw, r, name, sizeof name);
		sfmt(dst, sizeof dst, "%s/runs/%s.json", out, name);
		if (regular_file(dst))
			continue;
		int found = 0;
		for (int pass = 0; pass < 2 && !found; pass++)
			for (int i = 0; i < ndirs && !found; i++) {
				const char *const *ext = pass ? ext_bad : ext_ok;
				sfmt(src, sizeof src, "%s/runs/%s%s", dirs[i], name, ext[0]);
				struct stat lst;
				if (lstat(src, &lst) < 0)
					continue;
				if (!S_ISREG(lst.st_mode)) {
					fprintf(stderr, "vcpusim sweep --merge: %s: not a regular file "
							"(a symlink?): not copied\n", src);
					continue;
				}
				if (!pass && !result_file_ok(src)) {
					fprintf(stderr, "vcpusim sweep --merge: %s: not a valid results "
							"file: not copied\n", src);
					continue;
				}
				found = 1;
				for (int e = 0; e < 2; e++) {
					sfmt(src, sizeof src, "%s/runs/%s%s", dirs[i], name, ext[e]);
					sfmt(dst, sizeof dst, "%s/runs/%s%s", out, name, ext[e]);
					if (regular_file(src) && strcmp(src, dst) && copy_file(src, dst) < 0) {
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
