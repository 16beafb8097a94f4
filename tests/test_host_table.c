/* test_host_table.c: the built-in host profile compiled in as a table
 * (cmake/host_table.cmake, models/host_table.c; issue 15) is the profile the JSON
 * reader makes of the same file (scenarios/hosts/reference.json):
 *  - every scalar field bit for bit (the structs compared whole, pointers aside, so
 *    a field added to the reader but not to the table fails here), the name and
 *    the machine line, and each histogram's bins, cumulative counts, ratios and
 *    guide table;
 *  - host.profile "reference" is that table's profile;
 *  - a profile file is still read from its JSON: the reference's text in a file
 *    gives the same profile, and the same file with one value changed gives it
 *    changed;
 *  - the comparison can fail: a table with one bin's count changed differs. */
#include <stdio.h>
#include <unistd.h>
#include "testlib.h"
#include "models/host.h"

static int same_hist(const struct host_hist *a, const struct host_hist *b, const char *what)
{
	int ok = a->n == b->n;
	for (int i = 0; ok && i < a->n; i++)
		ok = !memcmp(&a->lo[i], &b->lo[i], sizeof(double)) &&
		     !memcmp(&a->hi[i], &b->hi[i], sizeof(double)) &&
		     !memcmp(&a->cum[i], &b->cum[i], sizeof(double)) &&
		     !memcmp(&a->ratio[i], &b->ratio[i], sizeof(double));
	if (ok && a->n)
		ok = !memcmp(a->guide, b->guide, HOST_GUIDE * sizeof *a->guide);
	if (!ok)
		fprintf(stderr, "  %s: histograms differ (%d and %d bins)\n", what, a->n, b->n);
	return ok;
}

/* 1 if a and b are the same profile (source aside). */
static int same_profile(const struct host_profile *a, const struct host_profile *b)
{
	int ok = !strcmp(a->name, b->name) && !strcmp(a->machine, b->machine);
	if (!ok)
		fprintf(stderr, "  name or machine differ: %s / %s, %s / %s\n", a->name, b->name,
			a->machine, b->machine);
	ok &= same_hist(&a->timer_late, &b->timer_late, "timer_late");
	ok &= same_hist(&a->vcpu_switch, &b->vcpu_switch, "vcpu_switch");
	for (int k = 0; k < HOST_CLASSES; k++) {
		ok &= same_hist(&a->cls[k].len, &b->cls[k].len, "activity length");
		ok &= same_hist(&a->cls[k].iat, &b->cls[k].iat, "activity interarrival");
	}
	/* the rest bit for bit: both were calloc'ed, so padding is 0 in each */
	struct host_profile x, y;
	memcpy(&x, a, sizeof x);
	memcpy(&y, b, sizeof y);
	struct host_profile *s[2] = { &x, &y };
	for (int j = 0; j < 2; j++) {
		s[j]->name = s[j]->source = s[j]->machine = NULL;
		memset(&s[j]->timer_late, 0, sizeof s[j]->timer_late);
		memset(&s[j]->vcpu_switch, 0, sizeof s[j]->vcpu_switch);
		for (int k = 0; k < HOST_CLASSES; k++) {
			memset(&s[j]->cls[k].len, 0, sizeof s[j]->cls[k].len);
			memset(&s[j]->cls[k].iat, 0, sizeof s[j]->cls[k].iat);
		}
	}
	if (memcmp(&x, &y, sizeof x)) {
		fprintf(stderr, "  scalar fields differ (tsc_ghz %.17g / %.17g, ipi_ns %.17g / %.17g, "
			"tlb_ipi_ns %.17g / %.17g, irq rate %.17g / %.17g)\n", a->tsc_ghz, b->tsc_ghz,
			a->ipi_ns, b->ipi_ns, a->tlb_ipi_ns, b->tlb_ipi_ns, a->cls[0].rate_hz,
			b->cls[0].rate_hz);
		ok = 0;
	}
	return ok;
}

static struct host_profile *from_json_text(const char *text)
{
	struct jp jp;
	jp_init(&jp, "(reference json)");
	cJSON *root = cJSON_Parse(text);
	struct host_profile *p = root ? host_profile_from_json(&jp, root, "built-in") : NULL;
	cJSON_Delete(root);
	EXPECT(p != NULL, "the reference profile's JSON parses: %s", jp.msg);
	return p;
}

static struct host_profile *from_file(const char *text, char *path)
{
	int fd = mkstemp(path);
	EXPECT(fd >= 0, "temporary profile file");
	if (fd < 0)
		return NULL;
	FILE *f = fdopen(fd, "w");
	fputs(text, f);
	fclose(f);
	struct jp jp;
	jp_init(&jp, "scen.json");
	struct host_profile *p = host_profile_load(&jp, path, NULL, "host.profile");
	EXPECT(p != NULL, "the profile file %s loads: %s", path, jp.msg);
	unlink(path);
	return p;
}

int main(void)
{
	struct host_profile *json = from_json_text(host_profile_reference_json);
	struct host_profile *table = host_profile_from_table(&host_profile_reference_table, "built-in");
	if (!json)
		return 1;
	EXPECT(same_profile(json, table), "the compiled table equals the parsed JSON");
	EXPECT(json->timer_late.n > 0 && json->cls[0].len.n > 0 && json->cls[1].iat.n > 0,
	       "the reference profile has histograms (%d, %d, %d bins)", json->timer_late.n,
	       json->cls[0].len.n, json->cls[1].iat.n);

	struct jp jp;
	jp_init(&jp, "scen.json");
	struct host_profile *ref = host_profile_load(&jp, "reference", NULL, "host.profile");
	EXPECT(ref && same_profile(ref, json) && !strcmp(ref->source, "built-in"),
	       "host.profile \"reference\" is the built-in profile");

	char p1[] = "/tmp/vcpusim-hosttab-XXXXXX";
	struct host_profile *file = from_file(host_profile_reference_json, p1);
	EXPECT(file && same_profile(file, json), "the reference's JSON in a file reads the same");
	EXPECT(file && !strcmp(file->source, p1), "a profile file is its own source: %s",
	       file ? file->source : "(none)");

	/* the same file with ipi_ns changed: read from the file, not the table */
	const char *key = "\"ipi_ns\": ";
	const char *at = strstr(host_profile_reference_json, key);
	EXPECT(at != NULL, "the reference profile has ipi_ns");
	if (at) {
		size_t n = strlen(host_profile_reference_json) + 16;
		char *text = malloc(n);
		const char *end = at + strlen(key);
		while (*end >= '0' && *end <= '9')
			end++;
		snprintf(text, n, "%.*s12345%s", (int)(at + strlen(key) - host_profile_reference_json),
			 host_profile_reference_json, end);
		char p2[] = "/tmp/vcpusim-hosttab-XXXXXX";
		struct host_profile *changed = from_file(text, p2);
		EXPECT(changed && changed->ipi_ns == 12345 && json->ipi_ns != 12345,
		       "a profile file's own ipi_ns is used: %g", changed ? changed->ipi_ns : -1);
		if (changed) {
			changed->ipi_ns = json->ipi_ns;
			EXPECT(same_profile(changed, json), "and nothing else changed");
		}
		host_profile_free(changed);
		free(text);
	}

	/* the comparison is not vacuous: one count changed in a copy of the table */
	struct host_profile_table t = host_profile_reference_table;
	int n = t.cls[0].len.n;
	double (*bins)[3] = malloc((size_t)n * sizeof *bins);
	memcpy(bins, t.cls[0].len.bins, (size_t)n * sizeof *bins);
	bins[n / 2][2] += 1;
	t.cls[0].len.bins = (const double (*)[3])bins;
	struct host_profile *bad = host_profile_from_table(&t, "built-in");
	fprintf(stderr, "(a difference is expected next)\n");
	EXPECT(!same_profile(bad, json), "a table with one bin's count changed differs");
	t = host_profile_reference_table;
	t.tsc_ghz = nextafter(t.tsc_ghz, 1e9);
	struct host_profile *bad2 = host_profile_from_table(&t, "built-in");
	fprintf(stderr, "(a difference is expected next)\n");
	EXPECT(!same_profile(bad2, json), "a table with tsc_ghz one ulp off differs");
	host_profile_free(bad);
	host_profile_free(bad2);
	free(bins);

	host_profile_free(json);
	host_profile_free(table);
	host_profile_free(ref);
	host_profile_free(file);
	printf("test_host_table: %d checks, %d passed, %d failed\n", t_checks, t_checks - t_failures,
	       t_failures);
	return t_failures ? 1 : 0;
}
