/* fuzz_timeline.c: fuzz target for `vcpusim plot --timeline`'s reader of trace
 * JSON (plots/plot.c, plot_timeline_data): any input is drawn or refused with
 * exit 2, and nothing in the gnuplot variables it makes can end their string
 * (a line break there would start a gnuplot command: issue 13, item 1). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "plots/plot.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static char path[64];
	if (!path[0])
		snprintf(path, sizeof path, "/tmp/fuzz-timeline-%ld.json", (long)getpid());
	FILE *f = fopen(path, "wb");
	if (!f)
		return 0;
	fwrite(data, 1, size, f);
	fclose(f);
	struct sbuf d = { 0 }, vars = { 0 };
	int n = 0;
	int rc = plot_timeline_data(path, 0, 300, &d, &vars, &n);
	if (rc != 0 && rc != 2)
		abort();
	if (rc == 0) {
		/* vars: exactly "names = '...'\nnpcpus = N\n", the string one line */
		const char *v = vars.p;
		if (!v || strncmp(v, "names = '", 9))
			abort();
		const char *q = v + 9;
		for (;;) {
			q = strchr(q, '\'');
			if (!q)
				abort();
			if (q[1] == '\'') {
				q += 2;
				continue;
			}
			break;
		}
		if (memchr(v, '\n', (size_t)(q - v)) || strncmp(q, "'\nnpcpus = ", 11))
			abort();
	}
	sb_free(&d);
	sb_free(&vars);
	unlink(path);
	return 0;
}
