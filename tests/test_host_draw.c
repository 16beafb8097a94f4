/* test_host_draw.c: host_hist_draw_ns (models/host.c) gives, draw for draw, the
 * integer (simtime_t)(host_hist_draw + 0.5) that the engine used before it, so
 * that every result stays byte-identical (docs/performance.md):
 *  - on every histogram of the built-in reference profile and of the shipped
 *    loaded profile, 200,000 draws from two streams seeded alike are equal, and
 *    nearly all of them (all but 1 in 10^4) took the polynomial's path;
 *  - a draw placed on a rounding boundary (a value within 1e-13 of n + 0.5, from
 *    a scripted generator) is decided by host_hist_draw's exp, and equals it; so
 *    are draws just below and above the boundary, either way;
 *  - bins wider than the polynomial's range and bins starting at 0 equal the
 *    old expression too;
 *  - the comparison can fail: a draw from another stream differs;
 *  - rng_uniform (sim/rng.h, taus2's step inline) is gsl_rng_uniform bit for bit,
 *    on streams made by rng_stream and embedded ones, and goes through GSL for
 *    another generator. */
#include "testlib.h"
#include <gsl/gsl_rng.h>
#include "models/host.h"
#include "sim/rng.h"

/* A generator whose uniform draws are given by the test. */
static double script[8];
static int nscript, at;
static void s_set(void *st, unsigned long seed) { (void)st; (void)seed; }
static unsigned long s_get(void *st) { (void)st; return 0; }
static double s_get_double(void *st) { (void)st; return script[at++ % nscript]; }
static const gsl_rng_type scripted = { "scripted", 0xffffffffUL, 0, sizeof(int), s_set, s_get,
				       s_get_double };

static long same_draws(const struct host_hist *h, const char *what, long n)
{
	gsl_rng *a = rng_stream(7, RNG_PCPU, 3), *b = rng_stream(7, RNG_PCPU, 3);
	long bad = 0;
	for (long i = 0; i < n; i++) {
		simtime_t x = host_hist_draw_ns(h, a), y = (simtime_t)(host_hist_draw(h, b) + 0.5);
		if (x != y && bad++ < 3)
			fprintf(stderr, "  %s draw %ld: %lld against %lld\n", what, i, (long long)x,
				(long long)y);
	}
	EXPECT(bad == 0, "%s: %ld of %ld draws differ", what, bad, n);
	gsl_rng_free(a);
	gsl_rng_free(b);
	return bad;
}

static void profile_draws(const struct host_profile *p, const char *name)
{
	unsigned long exact0 = host_hist_draw_ns_exact;
	long n = 200000, total = 0;
	char what[128];
	snprintf(what, sizeof what, "%s timer lateness", name);
	same_draws(&p->timer_late, what, n), total += n;
	snprintf(what, sizeof what, "%s vCPU switch", name);
	same_draws(&p->vcpu_switch, what, n), total += n;
	for (int k = 0; k < HOST_CLASSES; k++) {
		snprintf(what, sizeof what, "%s class %d length", name, k);
		same_draws(&p->cls[k].len, what, n), total += n;
		snprintf(what, sizeof what, "%s class %d interarrival", name, k);
		same_draws(&p->cls[k].iat, what, n), total += n;
	}
	unsigned long exact = host_hist_draw_ns_exact - exact0;
	printf("%s: %ld draws, %lu decided by exp near a rounding boundary\n", name, total, exact);
	EXPECT(exact * 10000 < (unsigned long)total, "%s: %lu of %ld draws fell back to exp", name,
	       exact, total);
}

/* host_hist_draw_ns and the old expression with the scripted draws x (the bin)
 * and v (within it). */
static void scripted_pair(const struct host_hist *h, double x, double v, simtime_t *fast,
			  simtime_t *old)
{
	int state = 0;
	gsl_rng r = { &scripted, &state };
	script[0] = x, script[1] = v, nscript = 2, at = 0;
	*fast = host_hist_draw_ns(h, &r);
	at = 0;
	*old = (simtime_t)(host_hist_draw(h, &r) + 0.5);
}

static void boundaries(void)
{
	/* one log-spaced bin [1000, 1090) (ln 1.09 = 0.086: the polynomial's range),
	 * one wider [1090, 5000) (ln 4.6: exp only), one from 0 */
	static const double bins[][3] = { { 0, 10, 1 }, { 1000, 1090, 1 }, { 1090, 5000, 1 } };
	struct host_hist h = { 0 };
	host_hist_from_bins(&h, 3, bins);
	simtime_t fast, old;
	/* the value 1040.5, a boundary: v = ln(1.0405) / ln(1.09) */
	double v = log(1040.5 / 1000) / log(1090.0 / 1000);
	unsigned long exact0 = host_hist_draw_ns_exact;
	scripted_pair(&h, 0.5, v, &fast, &old);
	EXPECT(host_hist_draw_ns_exact == exact0 + 1, "a value on n + 0.5 is left to exp");
	EXPECT(fast == old && (fast == 1040 || fast == 1041), "on the boundary: %lld against %lld",
	       (long long)fast, (long long)old);
	/* just below and above it: the polynomial decides, and agrees */
	for (int k = -1; k <= 1; k += 2) {
		double vk = log((1040.5 + k * 1e-6) / 1000) / log(1090.0 / 1000);
		exact0 = host_hist_draw_ns_exact;
		scripted_pair(&h, 0.5, vk, &fast, &old);
		EXPECT(host_hist_draw_ns_exact == exact0, "1e-6 from the boundary is decided fast");
		EXPECT(fast == old && fast == (k < 0 ? 1040 : 1041), "1040.5 %+g: %lld against %lld",
		       k * 1e-6, (long long)fast, (long long)old);
	}
	/* every draw of each bin on a grid of v, and the bins' edges */
	long bad = 0;
	for (int b = 0; b < 3; b++)
		for (int j = 0; j <= 4096; j++) {
			double vj = j == 4096 ? 0x1.fffffffffffffp-1 : j / 4096.0;
			scripted_pair(&h, (b + 0.5) / 3, vj, &fast, &old);
			bad += fast != old;
		}
	EXPECT(bad == 0, "%ld draws on the grid differ", bad);
	/* the comparison can fail: another stream's draws are not these */
	gsl_rng *a = rng_stream(7, RNG_PCPU, 3), *c = rng_stream(8, RNG_PCPU, 3);
	int differ = 0;
	for (int i = 0; i < 100; i++)
		differ += host_hist_draw_ns(&h, a) != (simtime_t)(host_hist_draw(&h, c) + 0.5);
	EXPECT(differ > 50, "draws of two streams differ (%d of 100)", differ);
	gsl_rng_free(a);
	gsl_rng_free(c);
	free(h.lo), free(h.hi), free(h.cum), free(h.ratio), free(h.guide);
}

static void inline_uniform(void)
{
	gsl_rng *a = rng_stream(11, RNG_VCPU, 5), *b = rng_stream(11, RNG_VCPU, 5);
	struct { RNG_EMBEDDED(rng); } e;
	rng_stream_init(e.rng, e.rng_state, 11, RNG_VCPU, 5);
	long bad = 0;
	for (long i = 0; i < 3000000; i++) {
		double x = rng_uniform(a), y = gsl_rng_uniform(b), z = rng_uniform(e.rng);
		bad += memcmp(&x, &y, sizeof x) != 0 || memcmp(&z, &y, sizeof z) != 0;
	}
	EXPECT(bad == 0, "rng_uniform differs from gsl_rng_uniform in %ld of 3 M draws", bad);
	gsl_rng *m1 = gsl_rng_alloc(gsl_rng_mt19937), *m2 = gsl_rng_alloc(gsl_rng_mt19937);
	bad = 0;
	for (int i = 0; i < 1000; i++)
		bad += rng_uniform(m1) != gsl_rng_uniform(m2);
	EXPECT(bad == 0, "rng_uniform of another generator is GSL's (%ld differ)", bad);
	double x = rng_uniform(a), y = rng_uniform(m1);
	EXPECT(x != y, "two generators' draws differ");
	gsl_rng_free(a), gsl_rng_free(b), gsl_rng_free(m1), gsl_rng_free(m2);
}

int main(int argc, char **argv)
{
	inline_uniform();
	(void)argc;
	struct jp jp;
	jp_init(&jp, "(test)");
	struct host_profile *ref = host_profile_load(&jp, "reference", NULL, NULL);
	EXPECT(ref != NULL, "the built-in profile: %s", jp.msg);
	if (ref)
		profile_draws(ref, "reference");
	/* the shipped loaded profile, found from this source file's folder */
	char src[4096], path[4200];
	snprintf(src, sizeof src, "%s", __FILE__);
	char *slash = strrchr(src, '/');
	if (slash)
		*slash = 0;
	snprintf(path, sizeof path, "%s/../scenarios/hosts/loaded-2026-11-26.json", slash ? src : ".");
	jp_init(&jp, path);
	struct host_profile *loaded = host_profile_load(&jp, path, NULL, NULL);
	EXPECT(loaded != NULL, "%s: %s", path, jp.msg);
	if (loaded)
		profile_draws(loaded, "loaded-2026-11-26");
	boundaries();
	host_profile_free(ref);
	host_profile_free(loaded);
	(void)argv;
	printf("test_host_draw: %d checks, %d passed, %d failed\n", t_checks, t_checks - t_failures,
	       t_failures);
	return t_failures ? 1 : 0;
}
