/* driver.c: runs a libFuzzer target over files without libFuzzer, so the normal
 * (and sanitizer) test builds replay every corpus and crash input (SQLite's
 * discipline: every parser fuzzed, every crash kept as a regression input).
 * Each input gets the CPU-time budget libFuzzer gives it under `make fuzz`
 * (-timeout=10 in scripts/fuzz.sh; FUZZ_TIMEOUT overrides it): an input the
 * fuzzer would report as a timeout fails the replay too, so a slow unit kept as
 * a regression input (tests/fuzz/corpus/fuzz_scenario/timeout-ticket-convoy-47)
 * stays fixed. CPU time, not wall time: a loaded machine does not fail it.
 * Usage: fuzz_TARGET FILE|DIR... */
#include <dirent.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *current;   /* the input running, for the timeout message */
static long budget_s = 10;

static void on_timeout(int sig)
{
	(void)sig;
	/* async-signal-safe: write(2) only */
	static const char a[] = "fuzz driver: input ", b[] = " used more than the per-input CPU budget (FUZZ_TIMEOUT, libFuzzer's -timeout): a fuzzing timeout\n";
	ssize_t r = write(2, a, sizeof a - 1);
	r = write(2, current, strlen(current));
	r = write(2, b, sizeof b - 1);
	(void)r;
	_exit(1);
}

static int run_file(const char *path)
{
	FILE *f = fopen(path, "rb");
	if (!f) {
		perror(path);
		return 1;
	}
	size_t cap = 1 << 16, n = 0, got;
	uint8_t *buf = malloc(cap);
	while ((got = fread(buf + n, 1, cap - n, f)) > 0) {
		n += got;
		if (n == cap)
			buf = realloc(buf, cap *= 2);
	}
	fclose(f);
	current = path;
	struct itimerval it = { .it_value = { .tv_sec = budget_s } }, off = { 0 };
	setitimer(ITIMER_PROF, &it, NULL);
	LLVMFuzzerTestOneInput(buf, n);
	setitimer(ITIMER_PROF, &off, NULL);
	free(buf);
	return 0;
}

int main(int argc, char **argv)
{
	int files = 0, errors = 0;
	const char *t = getenv("FUZZ_TIMEOUT");
	if (t && atol(t) > 0)
		budget_s = atol(t);
	signal(SIGPROF, on_timeout);
	for (int i = 1; i < argc; i++) {
		struct stat st;
		if (stat(argv[i], &st) != 0)
			continue;   /* an absent crash directory is fine */
		if (!S_ISDIR(st.st_mode)) {
			errors += run_file(argv[i]);
			files++;
			continue;
		}
		DIR *d = opendir(argv[i]);
		struct dirent *e;
		/* sorted order is not needed: each input is independent */
		while (d && (e = readdir(d))) {
			if (e->d_name[0] == '.')
				continue;
			char p[4096];
			snprintf(p, sizeof p, "%s/%s", argv[i], e->d_name);
			errors += run_file(p);
			files++;
		}
		if (d)
			closedir(d);
	}
	printf("%s: %d inputs ran, %d passed, %d failed\n", argv[0], files, files - errors, errors);
	return errors ? 1 : 0;
}
