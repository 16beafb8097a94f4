/* fuzz_sweep.c: fuzz target for the sweep file reader (sweep/points.c). The input is
 * written to a temporary file (the reader takes paths, and resolves a "base" path
 * relative to it). Inputs naming device or proc files are skipped: reading
 * /dev/stdin would block the fuzzer, not reveal a bug. */
#define _GNU_SOURCE
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "sweep/sweep.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (memmem(data, size, "/dev", 4) || memmem(data, size, "/proc", 5) ||
	    memmem(data, size, "/sys", 4))
		return 0;
	char path[64];
	snprintf(path, sizeof path, "/tmp/vcpusim-fuzz-sweep-%d.json", (int)getpid());
	FILE *f = fopen(path, "wb");
	if (!f)
		return 0;
	fwrite(data, 1, size, f);
	fclose(f);
	char msg[1024];
	int rc = sweep_check_file(path, msg, sizeof msg);
	if (rc != 0 && rc != 2)
		abort();
	if (rc == 2 && !strstr(msg, path))
		abort();   /* every error names the file */
	unlink(path);
	return 0;
}
