/* compare.c: `vcpusim compare A.json B.json [--plot OUT.png]`: a side-by-side
 * table of two results (real against simulated, or two policies), VM by VM
 * (matched by name): completion time and the ratio B/A, CPU share, long-wait
 * fraction, and the distance between the two lock-wait histograms (total
 * variation, and earth mover's distance in log2 buckets: 1.0 = waits a factor of
 * 2 apart). Either side may be a comma-separated list of results of repeated runs:
 * completion is then the median [min..max], histograms and counts are summed.
 * --plot draws the overlaid wait histograms with gnuplot. */
#include <errno.h>
#include <fcntl.h>
#include <sys/wait.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cjson/cJSON.h>
#include "sim/cli.h"
#include "sim/jparse.h"
#include "plots/gp_quote.h"

static const char compare_help[] =
	"usage: vcpusim compare A.json B.json [--plot OUT.png|-] [--floor B] [--no-header]\n"
	"                       [--label-a L] [--label-b L]\n\n"
	"Compares two results files (from `vcpusim run -o` or `vcpusim kvm -o`) VM by VM:\n"
	"completion time (ms) and the ratio B/A, CPU share (work_ms / run length), long-wait\n"
	"fraction (long waits / acquisitions), and two distances between the lock-wait\n"
	"histograms: TV (total variation, 0 = same shape, 1 = disjoint) and EMD (earth mover's\n"
	"distance over log2-cycle buckets: 1.0 = a factor of 2 apart). Ratios outside\n"
	"[0.8, 1.25] (more than 25% apart) are marked with '!'.\n"
	"A side may be a comma-separated list of results of repeated runs: completion is\n"
	"then shown as median [min..max]; counts and histograms are summed. A file - is\n"
	"standard input.\n\n"
	"  --plot FILE   PNG of the overlaid wait histograms (needs gnuplot; - : standard\n"
	"                output, the table then goes to standard error)\n"
	"  --floor B     histogram distances merge buckets below B (default 8: waits under\n"
	"                2^8 cycles are the lock operation itself; the simulator says 0)\n"
	"  --no-header   table rows only, prefixed with the scenario name (for scripts)\n"
	"  --label-a L, --label-b L   column labels (default: the policies)\n";

#define HB 64
#define MAX_REPS 1024   /* files per side: make validate pools sets of real runs and takes 100 seeds */
#define MAX_VMS 256

struct vmagg {
	char name[64];
	int present;
	double comp[MAX_REPS];
	int ncomp, unfinished;
	double share_sum;
	int nshare;
	double acq, longw;
	double hist[HB];
	int has_real;               /* results of `vcpusim kvm`: lock-preemption events */
	double long_holds, late_handoffs, stolen_ms;
	double together_frac;       /* summed over runs: together_ms / completion_ms */
	int ntogether;
};

struct side {
	char scenario[128], policy[64];
	int nfiles;
	struct vmagg vms[MAX_VMS];
	int nvms;
};

static struct vmagg *find_vm(struct side *s, const char *name, int create)
{
	for (int i = 0; i < s->nvms; i++)
		if (!strcmp(s->vms[i].name, name))
			return &s->vms[i];
	if (!create || s->nvms >= MAX_VMS)
		return NULL;
	struct vmagg *v = &s->vms[s->nvms++];
	memset(v, 0, sizeof *v);
	snprintf(v->name, sizeof v->name, "%s", name);
	return v;
}

static double num(const cJSON *o, const char *k, double def)
{
	const cJSON *v = cJSON_GetObjectItem(o, k);
	return cJSON_IsNumber(v) ? v->valuedouble : def;
}

/* Reads one results file into s; returns 0 or -1 with the message printed. */
static int load_one(struct side *s, const char *file)
{
	struct jp jp;
	jp_init(&jp, file);
	cJSON *r = jp_load_file(&jp, file);
	if (!r) {
		fprintf(stderr, "%s\n", jp.msg);
		return -1;
	}
	if (!cJSON_IsObject(r)) {
		jp_expected(&jp, "", r, "a results object");
		goto bad;
	}
	const char *sc = jp_str(&jp, r, "", "scenario", "?");
	const char *pol = jp_str(&jp, r, "", "policy", "?");
	double len = jp_num(&jp, r, "", "sim_ms", 0, 0, 1e15);
	const cJSON *vms = jp_array(&jp, r, "", "vms", 1);
	if (jp.failed)
		goto bad;
	if (s->nfiles == 0) {
		snprintf(s->scenario, sizeof s->scenario, "%s", sc);
		snprintf(s->policy, sizeof s->policy, "%s", pol);
	}
	s->nfiles++;
	const cJSON *v;
	int i = 0;
	cJSON_ArrayForEach(v, vms) {
		char path[JP_PATH_MAX];
		jp_index(path, "vms", i++);
		if (!cJSON_IsObject(v)) {
			jp_expected(&jp, path, v, "an object");
			goto bad;
		}
		const char *name = jp_str(&jp, v, path, "name", NULL);
		if (jp.failed)
			goto bad;
		if (!name) {
			jp_fail(&jp, path, "name: missing");
			goto bad;
		}
		struct vmagg *a = find_vm(s, name, 1);
		if (!a) {
			jp_fail(&jp, "vms", "more than %d VMs", MAX_VMS);
			goto bad;
		}
		a->present = 1;
		const cJSON *c = cJSON_GetObjectItem(v, "completion_ms");
		if (cJSON_IsNumber(c) && a->ncomp < MAX_REPS)
			a->comp[a->ncomp++] = c->valuedouble;
		else if (cJSON_IsFalse(cJSON_GetObjectItem(v, "finished")) &&
			 strcmp(jp_str(&jp, v, path, "workload", ""), "cpu_bound") &&
			 strcmp(jp_str(&jp, v, path, "workload", ""), "host_hog"))
			a->unfinished++;
		if (len > 0) {
			a->share_sum += num(v, "work_ms", 0) / len;
			a->nshare++;
		}
		const cJSON *sp = cJSON_GetObjectItem(v, "spin");
		if (cJSON_IsObject(sp)) {
			char spath[JP_PATH_MAX], hpath[JP_PATH_MAX];
			jp_join(spath, path, "spin");
			a->acq += jp_num(&jp, sp, spath, "acquisitions", 0, 0, 1e18);
			a->longw += jp_num(&jp, sp, spath, "long_waits", 0, 0, 1e18);
			const cJSON *h = jp_array(&jp, sp, spath, "histogram_log2_cycles", 0);
			jp_join(hpath, spath, "histogram_log2_cycles");
			const cJSON *e;
			int b = 0;
			cJSON_ArrayForEach(e, h) {
				char ep[JP_PATH_MAX];
				jp_index(ep, hpath, b);
				if (!cJSON_IsNumber(e) || e->valuedouble < 0) {
					jp_expected(&jp, ep, e, "a count >= 0");
					goto bad;
				}
				if (b < HB)
					a->hist[b] += e->valuedouble;
				b++;
			}
		}
		const cJSON *re = cJSON_GetObjectItem(v, "real");
		if (cJSON_IsObject(re)) {
			a->has_real = 1;
			a->late_handoffs += num(re, "late_handoffs", 0);
			a->stolen_ms += num(re, "stolen_ms", 0);
			double tg = num(re, "together_ms", -1), cm = num(v, "completion_ms", -1);
			if (tg >= 0 && cm > 0) {
				a->together_frac += tg / cm;
				a->ntogether++;
			}
			const cJSON *ho = cJSON_GetObjectItem(re, "hold");
			if (cJSON_IsObject(ho))
				a->long_holds += num(ho, "long_holds", 0);
		}
		if (jp.failed)
			goto bad;
	}
	cJSON_Delete(r);
	return 0;
bad:
	fprintf(stderr, "%s\n", jp.msg);
	cJSON_Delete(r);
	return -1;
}

static int load_side(struct side *s, const char *list)
{
	memset(s, 0, sizeof *s);
	size_t n = strlen(list);
	if (!n || list[0] == ',' || list[n - 1] == ',' || strstr(list, ",,")) {
		fprintf(stderr, "vcpusim compare: '%s': expected a results file or a comma-separated "
				"list of them, with no empty name\n", list);
		return -1;
	}
	char *copy = strdup(list), *save = NULL;
	int rc = 0;
	for (char *f = strtok_r(copy, ",", &save); f && rc == 0; f = strtok_r(NULL, ",", &save)) {
		if (s->nfiles >= MAX_REPS) {
			fprintf(stderr, "vcpusim compare: more than %d files on one side\n", MAX_REPS);
			rc = -1;
			break;
		}
		rc = load_one(s, f);
	}
	free(copy);
	return rc;
}

static int cmp_d(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

static double median(double *v, int n)
{
	qsort(v, (size_t)n, sizeof *v, cmp_d);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

static void fmt_comp(char *out, size_t len, struct vmagg *a, double *med)
{
	*med = NAN;
	if (!a || !a->present) {
		snprintf(out, len, "(absent)");
		return;
	}
	if (a->ncomp == 0) {
		snprintf(out, len, "%s", a->unfinished ? "unfinished" : "-");
		return;
	}
	*med = median(a->comp, a->ncomp);
	if (a->ncomp == 1)
		snprintf(out, len, "%.1f", *med);
	else
		snprintf(out, len, "%.1f [%.0f..%.0f]", *med, a->comp[0], a->comp[a->ncomp - 1]);
	if (a->unfinished)
		snprintf(out + strlen(out), len - strlen(out), "+%du", a->unfinished);
}

static int floor_bucket = 8;

/* Total variation and earth mover's distance (in buckets) of two histograms,
 * buckets below floor_bucket merged into it: a real lock operation and its TSC
 * reads cost tens of cycles where the simulator's uncontended wait is 0, a
 * difference of no interest. */
static int hist_dist(const struct vmagg *a, const struct vmagg *b, double *tv, double *emd)
{
	double ha[HB], hb[HB], sa = 0, sb = 0;
	memset(ha, 0, sizeof ha);
	memset(hb, 0, sizeof hb);
	for (int i = 0; i < HB; i++) {
		int k = i < floor_bucket ? floor_bucket : i;
		ha[k] += a->hist[i];
		hb[k] += b->hist[i];
		sa += a->hist[i];
		sb += b->hist[i];
	}
	if (sa <= 0 || sb <= 0)
		return -1;
	double t = 0, e = 0, ca = 0, cb = 0;
	for (int i = 0; i < HB; i++) {
		t += fabs(ha[i] / sa - hb[i] / sb);
		ca += ha[i] / sa;
		cb += hb[i] / sb;
		e += fabs(ca - cb);
	}
	*tv = t / 2;
	*emd = e;
	return 0;
}

static void pct(char *out, size_t len, const struct vmagg *a)
{
	if (!a || !a->present || a->acq <= 0)
		snprintf(out, len, "-");
	else
		snprintf(out, len, "%.2f%%", 100.0 * a->longw / a->acq);
}

/* Writes the gnuplot script: every string in it from the results files (names,
 * labels, policies) or the command line goes through gp_quote (issue 13, item 1). */
static int plot_script(FILE *g, const char *dat, const char *img, struct side *A,
		       struct side *B, const char *la, const char *lb, char names[][96], int ncols,
		       int na)
{
	char title[512];   /* cut if longer: a title */
	int tn = !strcmp(la, A->scenario) && !strcmp(lb, B->scenario)
		? snprintf(title, sizeof title, "lock waits: %s vs %s (%s)", la, lb, A->policy)
		: snprintf(title, sizeof title, "lock waits: %s (%s) vs %s (%s)", A->scenario, la,
			   B->scenario, lb);
	if (tn < 0)
		title[0] = 0;
	char *qimg = gp_quote(img), *qtitle = gp_quote(title), *qdat = gp_quote(dat);
	if (!qimg || !qtitle || !qdat) {
		free(qimg);
		free(qtitle);
		free(qdat);
		return -1;
	}
	fprintf(g, "set terminal pngcairo size 1000,600 noenhanced\nset output %s\n", qimg);
	fprintf(g, "set title %s\n", qtitle);
	fprintf(g, "set xlabel 'log2(wait cycles)'\nset ylabel 'fraction of acquisitions'\n"
		   "set logscale y\nset yrange [1e-5:1]\nset grid\nset key top right\n"
		   "set arrow from 20,1e-5 to 20,1 nohead dt 3 lc rgb 'gray'\n");
	int top = 0;
	for (int s = 0; s < 2; s++) {
		struct side *S = s ? B : A;
		for (int i = 0; i < S->nvms; i++)
			for (int b = 0; b < HB; b++)
				if (S->vms[i].hist[b] > 0 && b > top)
					top = b;
	}
	fprintf(g, "set xrange [-0.5:%d]\nset xtics 2\n", top + 2);
	fprintf(g, "plot ");
	int rc = 0;
	for (int s = 0; s < ncols; s++) {
		char *qn = gp_quote(names[s]);
		if (!qn) {
			rc = -1;
			break;
		}
		fprintf(g, "%s%s index %d using 1:($2>0?$2:1/0) with linespoints lw 2 dt %d title %s",
			s ? ", " : "", qdat, s, s < na ? 1 : 2, qn);
		free(qn);
	}
	fprintf(g, "\n");
	free(qimg);
	free(qtitle);
	free(qdat);
	return rc;
}

/* The whole of a file gnuplot wrote into our private directory. */
static char *slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	if (!f)
		return NULL;
	size_t cap = 1 << 16, n = 0, got;
	char *buf = malloc(cap);
	while (buf && (got = fread(buf + n, 1, cap - n, f)) > 0)
		if ((n += got) == cap) {
			char *nb = cap < ((size_t)1 << 30) ? realloc(buf, cap *= 2) : NULL;
			if (!nb)
				free(buf);
			buf = nb;
		}
	if (buf && (ferror(f) || n == 0)) {
		free(buf);
		buf = NULL;
	}
	fclose(f);
	*len = n;
	return buf;
}

/* The figure: gnuplot draws into a private directory (mkdtemp), the PNG is then
 * written to png like every output (sim/outfile.h: temp file and rename, or
 * straight through for stdout and devices). */
static int plot(const char *png, struct side *A, struct side *B, const char *la, const char *lb)
{
	char dir[64] = "/tmp/vcpusim-compare-XXXXXX";
	if (!mkdtemp(dir)) {
		fprintf(stderr, "vcpusim compare: cannot create a temporary directory: %s\n",
			strerror(errno));
		return -1;
	}
	char dat[96], img[96], gp[96];
	snprintf(dat, sizeof dat, "%s/hist.dat", dir);
	snprintf(img, sizeof img, "%s/plot.png", dir);
	snprintf(gp, sizeof gp, "%s/plot.gp", dir);
	FILE *d = fopen(dat, "w");
	if (!d) {
		rmdir(dir);
		return -1;
	}
	int ncols = 0, na = 0;
	static char names[2 * MAX_VMS][96];
	/* one block per series: bucket, fraction of acquisitions */
	for (int s = 0; s < 2; s++) {
		struct side *S = s ? B : A;
		for (int i = 0; i < S->nvms; i++) {
			struct vmagg *v = &S->vms[i];
			double tot = 0;
			for (int b = 0; b < HB; b++)
				tot += v->hist[b];
			if (tot <= 0 || ncols >= 2 * MAX_VMS)
				continue;
			if (snprintf(names[ncols], sizeof names[0], "%s %s", v->name, s ? lb : la) < 0)
				names[ncols][0] = 0;   /* a key entry, cut if longer */
			ncols++;
			for (int b = 0; b < HB; b++)
				fprintf(d, "%d %g\n", b, v->hist[b] / tot);
			fprintf(d, "\n\n");
		}
		if (s == 0)
			na = ncols;
	}
	int rc = -1;
	char *bytes = NULL;
	FILE *g = NULL;
	if (fclose(d) != 0)
		goto out;
	if (ncols == 0) {
		fprintf(stderr, "vcpusim compare: no lock waits to plot: %s not written\n", png);
		rc = 0;
		goto out;
	}
	g = fopen(gp, "w");
	if (!g || plot_script(g, dat, img, A, B, la, lb, names, ncols, na) < 0 || fclose(g) != 0) {
		if (g)
			fclose(g);
		goto out;
	}
	fflush(NULL);
	pid_t pid = fork();
	if (pid == 0) {
		int nul = open("/dev/null", O_RDWR);
		if (nul >= 0) {
			dup2(nul, 0);
			dup2(nul, 1);
		}
		execlp("gnuplot", "gnuplot", gp, (char *)NULL);
		fprintf(stderr, "vcpusim compare: cannot run gnuplot: %s (install gnuplot-nox: "
				"scripts/deps.sh)\n", strerror(errno));
		_exit(127);
	}
	int st = 0;
	while (pid > 0 && waitpid(pid, &st, 0) < 0 && errno == EINTR)
		;
	size_t len = 0;
	if (pid < 0 || !WIFEXITED(st) || WEXITSTATUS(st) != 0 || !(bytes = slurp(img, &len))) {
		if (!(WIFEXITED(st) && WEXITSTATUS(st) == 127))
			fprintf(stderr, "vcpusim compare: gnuplot did not draw the plot\n");
		goto out;
	}
	if (write_file_atomic(png, bytes, len) < 0) {
		fprintf(stderr, "vcpusim compare: %s: cannot write: %s\n", png, strerror(errno));
		goto out;
	}
	rc = 0;
out:
	free(bytes);
	unlink(dat);
	unlink(img);
	unlink(gp);
	rmdir(dir);
	return rc;
}

int cmd_compare(int argc, char **argv)
{
	const char *fa = NULL, *fb = NULL, *png = NULL, *la = NULL, *lb = NULL;
	int header = 1;
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		int has_next = i + 1 < argc;
		if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
			fputs(compare_help, stdout);
			return 0;
		} else if (!strcmp(a, "--plot") && has_next) {
			png = argv[++i];
		} else if (!strcmp(a, "--label-a") && has_next) {
			la = argv[++i];
		} else if (!strcmp(a, "--label-b") && has_next) {
			lb = argv[++i];
		} else if (!strcmp(a, "--floor") && has_next) {
			char *end;
			long f = strtol(argv[++i], &end, 10);
			if (*end || f < 0 || f >= HB) {
				fprintf(stderr, "vcpusim compare: --floor: expected a bucket in [0, %d], got '%s'\n",
					HB - 1, argv[i]);
				return 2;
			}
			floor_bucket = (int)f;
		} else if (!strcmp(a, "--no-header")) {
			header = 0;
		} else if (a[0] == '-' && a[1]) {
			fprintf(stderr, "vcpusim compare: %s: unknown option or missing value\n%s", a,
				compare_help);
			return 2;
		} else if (!fa) {
			fa = a;
		} else if (!fb) {
			fb = a;
		} else {
			fprintf(stderr, "vcpusim compare: unexpected argument '%s'\n%s", a, compare_help);
			return 2;
		}
	}
	if (!fa || !fb) {
		fprintf(stderr, "vcpusim compare: two results files are needed\n%s", compare_help);
		return 2;
	}
	if (png && !*png) {
		fprintf(stderr, "vcpusim compare: --plot: empty file name\n");
		return 2;
	}
	/* the figure must not replace one of the results files it is drawn from */
	for (int s = 0; png && s < 2; s++) {
		char *copy = strdup(s ? fb : fa), *save = NULL;
		for (char *f = copy ? strtok_r(copy, ",", &save) : NULL; f; f = strtok_r(NULL, ",", &save))
			if (same_file(png, f)) {
				refuse_same("compare", png, f);
				free(copy);
				return 2;
			}
		free(copy);
	}
	struct side *A = malloc(sizeof *A), *B = malloc(sizeof *B);
	if (!A || !B || load_side(A, fa) < 0 || load_side(B, fb) < 0) {
		free(A);
		free(B);
		return 2;
	}
	/* the table goes to stderr when the figure is written to stdout */
	FILE *tab = png && !strcmp(png, "-") ? stderr : stdout;
	/* default labels: the policies, or the scenarios when the policies are equal */
	int same = !strcmp(A->policy, B->policy) && strcmp(A->scenario, B->scenario);
	if (!la)
		la = same ? A->scenario : A->policy;
	if (!lb)
		lb = same ? B->scenario : B->policy;
	if (header) {
		fprintf(tab, "A: %s, policy %s (%d run%s)   B: %s, policy %s (%d run%s)\n", A->scenario,
		       A->policy, A->nfiles, A->nfiles > 1 ? "s" : "", B->scenario, B->policy, B->nfiles,
		       B->nfiles > 1 ? "s" : "");
		fprintf(tab, "%-12s %-22s %-22s %7s %7s %7s %9s %9s %6s %6s\n", "vm", la, lb, "B/A",
		       "shareA", "shareB", "longA", "longB", "TV", "EMD");
	}
	/* VMs of A in order, then those only in B */
	struct vmagg *order[2 * MAX_VMS];
	int n = 0;
	for (int i = 0; i < A->nvms; i++)
		order[n++] = &A->vms[i];
	for (int i = 0; i < B->nvms; i++)
		if (!find_vm(A, B->vms[i].name, 0))
			order[n++] = &B->vms[i];
	for (int i = 0; i < n; i++) {
		const char *name = order[i]->name;
		struct vmagg *a = find_vm(A, name, 0), *b = find_vm(B, name, 0);
		char ca[48], cb[48], ratio[16] = "-", sa[16] = "-", sb[16] = "-", pa[16], pb[16];
		char tv[16] = "-", emd[16] = "-";
		double ma, mb;
		fmt_comp(ca, sizeof ca, a, &ma);
		fmt_comp(cb, sizeof cb, b, &mb);
		if (!isnan(ma) && !isnan(mb) && ma > 0) {
			double r = mb / ma;
			snprintf(ratio, sizeof ratio, "%.2f%s", r, r > 1.25 || r < 0.8 ? "!" : "");
		}
		if (a && a->nshare)
			snprintf(sa, sizeof sa, "%.3f", a->share_sum / a->nshare);
		if (b && b->nshare)
			snprintf(sb, sizeof sb, "%.3f", b->share_sum / b->nshare);
		pct(pa, sizeof pa, a);
		pct(pb, sizeof pb, b);
		double t, e;
		if (a && b && hist_dist(a, b, &t, &e) == 0) {
			snprintf(tv, sizeof tv, "%.2f", t);
			snprintf(emd, sizeof emd, "%.2f", e);
		}
		if (!header)
			fprintf(tab, "%-26s ", A->scenario);
		fprintf(tab, "%-12s %-22s %-22s %7s %7s %7s %9s %9s %6s %6s\n", name, ca, cb, ratio, sa, sb, pa,
		       pb, tv, emd);
	}
	/* real runs: which lock preemptions the guest saw */
	int any = 0;
	for (int s = 0; s < 2; s++) {
		struct side *S = s ? B : A;
		for (int i = 0; i < S->nvms; i++) {
			struct vmagg *v = &S->vms[i];
			if (!v->has_real || v->acq <= 0 || !header)
				continue;
			if (!any++ && header)
				fprintf(tab, "\nlock preemption seen by the real guest (summed over runs): long waits; "
				       "long holds (holder preempted in its critical section: LHP);\n"
				       "late handoffs (lock granted to a waiter that was not running: LWP); mean share of\n"
				       "the run during which the host happened to run all the VM's vCPUs at once\n");
			fprintf(tab, "  %-12s %-10s long waits %6.0f  long holds %6.0f  late handoffs %6.0f  of %8.0f acquisitions",
			       v->name, s ? lb : la, v->longw, v->long_holds, v->late_handoffs, v->acq);
			if (v->ntogether)
				fprintf(tab, "; all vCPUs ran together %.0f%% of the time", 100 * v->together_frac / v->ntogether);
			fprintf(tab, "\n");
		}
	}
	int rc = 0;
	if (png && plot(png, A, B, la, lb) < 0) {
		fprintf(stderr, "vcpusim compare: %s: not written\n", png);
		rc = 1;
	}
	free(A);
	free(B);
	return rc;
}
