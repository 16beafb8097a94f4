/* fuzz_compare.c: fuzz target for `vcpusim compare`'s reader of results files
 * (kvm/compare.c) and the table it prints. Input: a results JSON file, compared
 * with itself (both sides) and, as a comma list, repeated. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "sim/cli.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static char path[64];
	static int init;
	if (!init) {
		snprintf(path, sizeof path, "/tmp/fuzz-compare-%ld.json", (long)getpid());
		if (!freopen("/dev/null", "w", stdout))
			abort();
		init = 1;
	}
	FILE *f = fopen(path, "wb");
	if (!f)
		return 0;
	fwrite(data, 1, size, f);
	fclose(f);
	char list[160];
	snprintf(list, sizeof list, "%s,%s", path, path);
	char *argv1[] = { "compare", path, path, NULL };
	char *argv2[] = { "compare", path, list, "--no-header", "--floor", "3", NULL };
	int rc = cmd_compare(3, argv1);
	if (rc != 0 && rc != 2)
		abort();   /* bad input is exit 2, never anything else */
	rc = cmd_compare(6, argv2);
	if (rc != 0 && rc != 2)
		abort();
	fflush(stdout);
	unlink(path);
	return 0;
}
