/* host.c: reading host profiles (docs/host-profile.md) and drawing from their
 * measured distributions. See host.h for what a profile describes. */
#include "models/host.h"
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "sim/rng.h"
#include "sim/xalloc.h"

#define MAX_BINS 4096

static void hist_finish(struct host_hist *h, int n, double total);

static void hist_free(struct host_hist *h)
{
	free(h->lo);
	free(h->hi);
	free(h->cum);
	free(h->ratio);
	free(h->guide);
	memset(h, 0, sizeof *h);
}

/* {"hist": [[lo, hi, count], ...], ...} at path.key; absent: empty. */
static void parse_hist(struct jp *jp, const cJSON *obj, const char *path, const char *key,
		       struct host_hist *h)
{
	char p[JP_PATH_MAX], hp[JP_PATH_MAX];
	const cJSON *d = jp_obj(jp, obj, path, key, 0);
	if (!d || jp->failed)
		return;
	jp_join(p, path, key);
	const cJSON *a = jp_array(jp, d, p, "hist", 1);
	if (!a || jp->failed)
		return;
	jp_join(hp, p, "hist");
	int n = cJSON_GetArraySize(a);
	if (n > MAX_BINS) {
		jp_fail(jp, hp, "expected at most %d bins, got %d", MAX_BINS, n);
		return;
	}
	h->lo = xcalloc((size_t)n + 1, sizeof *h->lo);
	h->hi = xcalloc((size_t)n + 1, sizeof *h->hi);
	h->cum = xcalloc((size_t)n + 1, sizeof *h->cum);
	double total = 0, prev_hi = 0;
	const cJSON *b = a->child;   /* walked in order: cJSON_GetArrayItem(a, i) is O(i) */
	for (int i = 0; i < n; i++, b = b->next) {
		const cJSON *lo = cJSON_IsArray(b) ? b->child : NULL;
		const cJSON *hi = lo ? lo->next : NULL, *c = hi ? hi->next : NULL;
		if (!cJSON_IsArray(b) || cJSON_GetArraySize(b) != 3 || !cJSON_IsNumber(lo) ||
		    !cJSON_IsNumber(hi) || !cJSON_IsNumber(c) || !(lo->valuedouble >= 0) ||
		    !(hi->valuedouble > lo->valuedouble) || hi->valuedouble > 1e12 ||
		    !(c->valuedouble >= 0) || c->valuedouble > 1e15 || lo->valuedouble < prev_hi) {
			char bp[JP_PATH_MAX];
			jp_index(bp, hp, i);
			jp_expected(jp, bp, b, "[lo, hi, count] with 0 <= lo < hi <= 1e12 ns, bins in increasing order, count >= 0");
			hist_free(h);
			return;
		}
		prev_hi = hi->valuedouble;
		h->lo[i] = lo->valuedouble;
		h->hi[i] = hi->valuedouble;
		total += c->valuedouble;
		h->cum[i] = total;
	}
	hist_finish(h, n, total);
}

/* The draw's tables of h, whose n bins' lo, hi and cum are set. */
static void hist_finish(struct host_hist *h, int n, double total)
{
	h->n = total > 0 ? n : 0;
	/* A guide table (Chen and Asau 1974; Devroye 1986, section III.2.4): entry j is
	 * the first bin whose cumulative count exceeds j/HOST_GUIDE of the total, so a
	 * draw starts its search there instead of bisecting every bin. */
	h->ratio = xcalloc((size_t)n + 1, sizeof *h->ratio);
	h->guide = xcalloc(HOST_GUIDE, sizeof *h->guide);
	for (int i = 0; i < n; i++)
		h->ratio[i] = h->lo[i] > 0 ? log(h->hi[i] / h->lo[i]) : 0;
	for (int j = 0, i = 0; j < HOST_GUIDE && h->n; j++) {
		double u = total * j / HOST_GUIDE;
		while (i < h->n - 1 && !(h->cum[i] > u))
			i++;
		h->guide[j] = i;
	}
}

void host_hist_from_bins(struct host_hist *h, int n, const double (*bins)[3])
{
	double total = 0;
	h->lo = xcalloc((size_t)n + 1, sizeof *h->lo);
	h->hi = xcalloc((size_t)n + 1, sizeof *h->hi);
	h->cum = xcalloc((size_t)n + 1, sizeof *h->cum);
	for (int i = 0; i < n; i++) {
		h->lo[i] = bins[i][0];
		h->hi[i] = bins[i][1];
		total += bins[i][2];
		h->cum[i] = total;
	}
	hist_finish(h, n, total);
}

/* The bin of a draw x (uniform in [0, 1)): the first bin whose cumulative count
 * exceeds x times the total (the last bin if none does), searched from the
 * guide's entry; the two loops make the answer exact whatever the rounding of
 * the guide's index. */
static inline int hist_bin(const struct host_hist *h, double x)
{
	double u = x * h->cum[h->n - 1];
	int i = h->guide[(int)(x * HOST_GUIDE)];
	while (i > 0 && h->cum[i - 1] > u)
		i--;
	while (i < h->n - 1 && !(h->cum[i] > u))
		i++;
	return i;
}

/* The value at v (uniform in [0, 1)) within bin i: uniform in a bin from 0,
 * log-uniform within a log-spaced bin, a * (hi/lo)^v, as exp of a logarithm taken
 * once per bin (glibc's pow computes that logarithm at every call; it was 3.5% of
 * the 16-pCPU benchmark's CPU, and the same 420 results came out). The one
 * expression of both draws below: host_hist_draw_ns's exactness rests on it. */
static inline double bin_value(const struct host_hist *h, int i, double v)
{
	double a = h->lo[i];
	if (a <= 0)
		return a + (h->hi[i] - a) * v;
	return a * exp(h->ratio[i] * v);
}

double host_hist_draw(const struct host_hist *h, gsl_rng *r)
{
	if (h->n == 0)
		return 0;
	int i = hist_bin(h, gsl_rng_uniform(r));
	return bin_value(h, i, gsl_rng_uniform(r));
}

/* Within a log-spaced bin no wider than this (ln hi/lo; profiles' bins are
 * 2^(1/8) apart, ln 1.09 = 0.087), host_hist_draw_ns evaluates (hi/lo)^v =
 * exp(v ln(hi/lo)) as a polynomial (below) instead of calling exp. */
#define FAST_LOGR 0.125

/* exp(t) for 0 <= t <= FAST_LOGR by its Taylor polynomial of degree 8: the
 * remainder is at most e^t t^9/9! < 2.4e-14 of the value. Evaluated by Estrin's
 * scheme (pairs, then t^2 and t^4) rather than Horner's: a chain of 4
 * multiply-adds instead of 8, the draw's latency; the roundings add a few ulps. */
static inline double exp_small(double t)
{
	double t2 = t * t, t4 = t2 * t2;
	double p01 = 1 + t, p23 = 1.0 / 2 + t * (1.0 / 6), p45 = 1.0 / 24 + t * (1.0 / 120),
	       p67 = 1.0 / 720 + t * (1.0 / 5040);
	return (p01 + t2 * p23) + t4 * ((p45 + t2 * p67) + t4 * (1.0 / 40320));
}

unsigned long host_hist_draw_ns_exact;

/* (simtime_t)(host_hist_draw(h, r) + 0.5), the same integer for the same draws,
 * without a call of exp in nearly every draw. The draw rounded to ns is all that
 * its callers use, so a value within a known error of host_hist_draw's gives the
 * same integer unless it lies that close to a rounding boundary (n + 0.5): then
 * host_hist_draw's own expression decides. Both take exp of the same product
 * t = ln(hi/lo) v; the margin, 1e-12 of the value, is 40 times the polynomial's
 * error bound (above) plus exp's (within 1 ulp in glibc: the manual's table of
 * errors in math functions) and the roundings of the products and sums (a few
 * ulps). A draw falls within it about once in 10^5 or fewer
 * (tests/test_host_draw.c). */
simtime_t host_hist_draw_ns(const struct host_hist *h, gsl_rng *r)
{
	if (h->n == 0)
		return 0;
	int i = hist_bin(h, rng_uniform(r));
	double a = h->lo[i], v = rng_uniform(r);
	if (a > 0 && h->ratio[i] <= FAST_LOGR) {
		double y = a * exp_small(h->ratio[i] * v), d = y + 0.5;
		simtime_t k = (simtime_t)d;   /* floor: 0.5 < d < 2^53 */
		double f = (double)k, m = y * 1e-12;
		if (d - f > m && f + 1 - d > m)
			return k;
		host_hist_draw_ns_exact++;
	}
	return (simtime_t)(bin_value(h, i, v) + 0.5);
}

double host_hist_mean(const struct host_hist *h)
{
	double s = 0, prev = 0;
	for (int i = 0; i < h->n; i++) {
		double a = h->lo[i], b = h->hi[i];
		double m = a > 0 ? (b - a) / log(b / a) : (a + b) / 2;   /* log-uniform mean */
		s += (h->cum[i] - prev) * m;
		prev = h->cum[i];
	}
	return h->n ? s / h->cum[h->n - 1] : 0;
}

struct host_profile *host_profile_from_json(struct jp *jp, const cJSON *root, const char *source)
{
	static const char *const keys[] = { "vcpusim_host_profile", "name", "description", "machine",
					    "tsc_ghz", "tick_hz", "spin_iteration_ns", "ipi_ns",
					    "tlb_flush_ns", "tlb_shootdown_ns", "irq_time_accounting",
					    "tlb_ipi_ns", "tlb_ipi_delivery_ns",
					    "wake_to_run_ns", "timer_latency_ns", "vcpu_switch_ns", "activity", "stability",
					    "per_cpu", NULL };
	static const char *const akeys[] = { "irq", "task", NULL };
	static const char *const ckeys[] = { "rate_hz", "mean_ns", "samples", "length_ns",
					     "interarrival_ns", NULL };
	if (!cJSON_IsObject(root)) {
		jp_expected(jp, "", root, "a host profile (a JSON object)");
		return NULL;
	}
	jp_only_keys(jp, root, "", keys);
	int64_t version = jp_int(jp, root, "", "vcpusim_host_profile", 0, 1, 1);
	if (!jp->failed && version != 1) {
		jp_fail(jp, "vcpusim_host_profile", "missing: not a vcpusim host profile (`vcpusim calibrate` writes one)");
		return NULL;
	}
	struct host_profile *p = xcalloc(1, sizeof *p);
	p->name = xstrdup(jp_str(jp, root, "", "name", "unnamed"));
	p->source = xstrdup(source);
	p->tsc_ghz = jp_num(jp, root, "", "tsc_ghz", 2.4, 0.1, 100);
	p->tick_hz = (int)jp_int(jp, root, "", "tick_hz", 250, 1, 100000);
	p->spin_iteration_ns = jp_num(jp, root, "", "spin_iteration_ns", 4.2, 0.01, 1e6);
	p->ipi_ns = jp_num(jp, root, "", "ipi_ns", 2000, 0, 1e9);
	/* measured by `vcpusim calibrate` since issue 16 (kvm/calibrate.c): the time a
	 * TLB-shootdown IPI takes from the code it interrupts on its target. A profile
	 * written before has none: 0, the target acknowledges on arrival as it did then,
	 * so an old profile gives the results it gave. tlb_shootdown_ns (the
	 * measurement's details, like wake_to_run_ns) is informational. */
	p->tlb_flush_ns = jp_num(jp, root, "", "tlb_flush_ns", 0, 0, 1e9);
	/* whether the host kernel keeps interrupt time out of a task's runtime
	 * (CONFIG_IRQ_TIME_ACCOUNTING, read by calibrate from the kernel's config).
	 * A profile that does not say: excluded, as the model always did. */
	p->irq_time_accounting = jp_bool(jp, root, "", "irq_time_accounting", 1);
	/* measured since (kvm/calibrate.c): a flush IPI's delivery to a RUNNING target
	 * and its acknowledgement, less the handler. Absent from older profiles: -1,
	 * and a scenario's guest.tlb_ipi_ns falls back to its guest.ipi_ns, the
	 * delivery they had (sim/scenario.c). tlb_ipi_delivery_ns (its distribution)
	 * is informational. */
	p->tlb_ipi_ns = jp_num(jp, root, "", "tlb_ipi_ns", -1, 0, 1e9);
	parse_hist(jp, root, "", "timer_latency_ns", &p->timer_late);
	parse_hist(jp, root, "", "vcpu_switch_ns", &p->vcpu_switch);   /* optional */
	const cJSON *m = jp_obj(jp, root, "", "machine", 0);
	char line[512];
	const cJSON *cm = m ? cJSON_GetObjectItem(m, "cpu_model") : NULL,
		    *nc = m ? cJSON_GetObjectItem(m, "cpus") : NULL,
		    *kn = m ? cJSON_GetObjectItem(m, "kernel") : NULL,
		    *dt = m ? cJSON_GetObjectItem(m, "measured") : NULL;
	snprintf(line, sizeof line, "%s, %d CPUs, Linux %s, measured %s",
		 cJSON_IsString(cm) ? cm->valuestring : "?", cJSON_IsNumber(nc) ? (int)nc->valuedouble : 0,
		 cJSON_IsString(kn) ? kn->valuestring : "?", cJSON_IsString(dt) ? dt->valuestring : "?");
	p->machine = xstrdup(line);
	const cJSON *act = jp_obj(jp, root, "", "activity", 0);
	jp_only_keys(jp, act, "activity", akeys);
	for (int k = 0; k < HOST_CLASSES && act; k++) {
		const char *cname = akeys[k];
		char cp[JP_PATH_MAX];
		jp_join(cp, "activity", cname);
		const cJSON *c = jp_obj(jp, act, "activity", cname, 0);
		if (!c)
			continue;
		jp_only_keys(jp, c, cp, ckeys);
		p->cls[k].rate_hz = jp_num(jp, c, cp, "rate_hz", 0, 0, 1e6);
		parse_hist(jp, c, cp, "length_ns", &p->cls[k].len);
		parse_hist(jp, c, cp, "interarrival_ns", &p->cls[k].iat);
		if (!jp->failed && p->cls[k].rate_hz > 0 && (!p->cls[k].len.n || !p->cls[k].iat.n))
			jp_fail(jp, cp, "expected length_ns and interarrival_ns histograms for a rate above 0");
	}
	if (jp->failed) {
		host_profile_free(p);
		return NULL;
	}
	return p;
}

struct host_profile *host_profile_load(struct jp *jp, const char *name, const char *relative_to,
				       const char *path)
{
	struct jp pj;
	char file[4096];
	if (!strcmp(name, "reference"))   /* compiled in: no JSON to parse (issue 15) */
		return host_profile_from_table(&host_profile_reference_table, "built-in");
	const char *slash = relative_to ? strrchr(relative_to, '/') : NULL;
	if (name[0] != '/' && slash)
		snprintf(file, sizeof file, "%.*s/%s", (int)(slash - relative_to), relative_to, name);
	else
		snprintf(file, sizeof file, "%s", name);
	jp_init(&pj, file);
	cJSON *root = jp_load_file(&pj, file);
	struct host_profile *p = root ? host_profile_from_json(&pj, root, file) : NULL;
	cJSON_Delete(root);
	if (!p)
		jp_fail(jp, path, "host profile %s", pj.msg);
	return p;
}

void host_profile_free(struct host_profile *p)
{
	if (!p)
		return;
	hist_free(&p->timer_late);
	hist_free(&p->vcpu_switch);
	for (int k = 0; k < HOST_CLASSES; k++) {
		hist_free(&p->cls[k].len);
		hist_free(&p->cls[k].iat);
	}
	free(p->name);
	free(p->source);
	free(p->machine);
	free(p);
}
