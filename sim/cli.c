/* cli.c: the `run`, `validate` and `list` commands (interface.md, "Commands"). */
#include "sim/cli.h"
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include "sim/results.h"
#include "sim/scenario.h"
#include "sim/sim.h"
#include "sim/trace.h"

static const char run_help[] =
	"usage: vcpusim run [SCENARIO.json|-] [-o RESULTS.json|-] [--set PATH=VALUE]... [--quiet]\n"
	"                   [--trace TRACE.json|- [--trace-from MS] [--trace-to MS]] [--check]\n\n"
	"Simulates the scenario (without one, a built-in example: a lock-heavy parallel VM\n"
	"beside a CPU hog under Xen Credit) and prints a summary, or writes the results JSON\n"
	"with -o.\n\n"
	"  SCENARIO -        read the scenario from standard input\n"
	"  -o FILE           write results JSON to FILE (atomically; - : standard output)\n"
	"                    instead of the summary\n"
	"  --set PATH=VALUE  override a scenario value by dotted path with array indices,\n"
	"                    e.g. --set scheduler.policy=credit --set vms[0].vcpus=8;\n"
	"                    VALUE is JSON if it parses as JSON, else a string\n"
	"  --trace FILE      write the schedule as Chrome/Perfetto trace events (- :\n"
	"                    standard output; the summary then goes to standard error)\n"
	"  --trace-from MS, --trace-to MS\n"
	"                    only the part of the schedule in [MS, MS) of simulated time\n"
	"  --check           verify the model's invariants after every event (slower)\n"
	"  --quiet           no progress line, and no note when stop.max_ms ends the run\n"
	"                    with VMs unfinished (the results say so)\n";

static int parse_common(int argc, char **argv, const char *help, const char **file,
			const char **out, const char **trace, char ***sets, int *nsets,
			int *check, int *quiet, int allow_outputs)
{
	*sets = calloc((size_t)argc, sizeof **sets);
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		int has_next = i + 1 < argc;
		if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
			fputs(help, stdout);
			return 0;
		} else if (!strcmp(a, "--set") && has_next) {
			(*sets)[(*nsets)++] = argv[++i];
		} else if (!strncmp(a, "--set=", 6)) {
			(*sets)[(*nsets)++] = argv[i] + 6;
		} else if (allow_outputs && !strcmp(a, "-o") && has_next) {
			*out = argv[++i];
		} else if (allow_outputs && !strcmp(a, "--trace") && has_next) {
			*trace = argv[++i];
		} else if (allow_outputs && !strcmp(a, "--check")) {
			*check = 1;
		} else if (allow_outputs && !strcmp(a, "--quiet")) {
			*quiet = 1;
		} else if (a[0] == '-' && a[1]) {
			fprintf(stderr, "vcpusim: %s: unknown option or missing value\n%s", a, help);
			return 2;
		} else if (!*file) {
			*file = a;
		} else {
			fprintf(stderr, "vcpusim: unexpected argument '%s'\n%s", a, help);
			return 2;
		}
	}
	return -1;
}

static double wall_clock(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* --trace-from MS / --trace-to MS (run only): taken out of argv before the common
 * options are parsed. Returns 0, or 2 after a message. */
static int take_trace_window(int *argc, char **argv, double *from, double *to)
{
	int n = 1;
	for (int i = 1; i < *argc; i++) {
		const char *a = argv[i];
		double *dst = !strcmp(a, "--trace-from") ? from : !strcmp(a, "--trace-to") ? to : NULL;
		if (!dst) {
			argv[n++] = argv[i];
			continue;
		}
		char *end = NULL;
		double v = i + 1 < *argc ? strtod(argv[i + 1], &end) : NAN;
		if (!end || end == argv[i + 1] || *end || !isfinite(v) || v < 0) {
			fprintf(stderr, "vcpusim run: %s: expected a time in ms >= 0%s%s%s\n", a,
				i + 1 < *argc ? ", got '" : "", i + 1 < *argc ? argv[i + 1] : "",
				i + 1 < *argc ? "'" : "");
			return 2;
		}
		*dst = v;
		i++;
	}
	*argc = n;
	argv[n] = NULL;
	if (*to >= 0 && *to <= *from) {
		fprintf(stderr, "vcpusim run: --trace-to %g must be after --trace-from %g\n", *to, *from);
		return 2;
	}
	return 0;
}

int cmd_run(int argc, char **argv)
{
	const char *file = NULL, *out = NULL, *trace_path = NULL;
	char **sets = NULL;
	int nsets = 0, check = 0, quiet = 0;
	double trace_from = 0, trace_to = -1;
	if (take_trace_window(&argc, argv, &trace_from, &trace_to))
		return 2;
	int rc = parse_common(argc, argv, run_help, &file, &out, &trace_path, &sets, &nsets, &check,
			      &quiet, 1);
	if (rc >= 0) {
		free(sets);
		return rc;
	}
	if ((trace_from > 0 || trace_to >= 0) && !trace_path) {
		fprintf(stderr, "vcpusim run: --trace-from/--trace-to need --trace FILE\n");
		free(sets);
		return 2;
	}
	/* outputs are checked before anything is simulated */
	if ((out && !*out) || (trace_path && !*trace_path)) {
		free(sets);
		fprintf(stderr, "vcpusim run: %s: empty file name\n", out && !*out ? "-o" : "--trace");
		return 2;
	}
	const char *clash = same_file(out, file) ? out : same_file(trace_path, file) ? trace_path
			  : same_file(out, trace_path) || both_stdout(out, trace_path) ? out : NULL;
	if (clash) {
		free(sets);
		return refuse_same("run", clash, same_file(clash, file) ? file : "the --trace output");
	}
	struct jp jp;
	jp_init(&jp, file ? file : "(built-in scenario)");
	struct scenario *sc = scenario_load(&jp, file, sets, nsets);
	free(sets);
	if (!sc) {
		fprintf(stderr, "%s\n", jp.msg);
		return 2;
	}
	if (check)
		sc->check = 1;
	struct outfile of = { 0 };
	if (out && outfile_open(&of, out) < 0) {
		fprintf(stderr, "vcpusim: %s: cannot write: %s\n", out, strerror(errno));
		scenario_free(sc);
		return 1;
	}
	double t0 = wall_clock();
	struct sim *s = sim_create(sc);
	s->progress = !quiet && isatty(2);
	if (trace_path) {
		s->trace = trace_open(trace_path, s->host.npcpus);
		if (!s->trace) {
			fprintf(stderr, "vcpusim: %s: cannot write: %s\n", trace_path, strerror(errno));
			if (out)
				outfile_abort(&of);
			sim_destroy(s);
			scenario_free(sc);
			return 1;
		}
		trace_window(s->trace, trace_from, trace_to);
	}
	rc = sim_run(s);
	double wall = wall_clock() - t0;
	if (rc == 0 && !quiet && s->hit_max && s->finished_vms < s->finite_vms)
		fprintf(stderr, "vcpusim: stopped at stop.max_ms = %.0f ms with %d of %d finite VMs unfinished\n",
			simtime_ms(s->sc->max_ns), s->finite_vms - s->finished_vms, s->finite_vms);
	if (s->trace) {
		if (rc == 0 && trace_close(s->trace, s) < 0) {
			fprintf(stderr, "vcpusim: %s: cannot write: %s\n", trace_path, strerror(errno));
			rc = 1;
		} else if (rc != 0) {
			trace_abort(s->trace);
		}
		s->trace = NULL;
	}
	if (rc == 0) {
		if (out) {
			cJSON *r = results_build(s, wall);
			char *text = cJSON_Print(r);
			size_t len = strlen(text);
			char *withnl = malloc(len + 2);
			memcpy(withnl, text, len);
			withnl[len] = '\n';
			if (fwrite(withnl, 1, len + 1, of.f) != len + 1) {
				outfile_abort(&of);
				fprintf(stderr, "vcpusim: %s: cannot write: %s\n", out, strerror(errno));
				rc = 1;
			} else if (outfile_commit(&of) < 0) {
				fprintf(stderr, "vcpusim: %s: cannot write: %s\n", out, strerror(errno));
				rc = 1;
			}
			free(withnl);
			free(text);
			cJSON_Delete(r);
		} else {
			/* with the trace on stdout, the summary goes to stderr */
			results_print_summary(trace_path && !strcmp(trace_path, "-") ? stderr : stdout,
					      s, wall);
		}
	} else if (out) {
		outfile_abort(&of);
	}
	sim_destroy(s);
	scenario_free(sc);
	return rc;
}

static const char validate_help[] =
	"usage: vcpusim validate SCENARIO.json [--set PATH=VALUE]...\n\n"
	"Checks a scenario; prints nothing when it is valid (exit 0), else the first error\n"
	"as FILE: json.path: what was expected (exit 2). SCENARIO - reads standard input.\n";

int cmd_validate(int argc, char **argv)
{
	const char *file = NULL, *out = NULL, *trace = NULL;
	char **sets = NULL;
	int nsets = 0, check = 0, quiet = 0;
	int rc = parse_common(argc, argv, validate_help, &file, &out, &trace, &sets, &nsets, &check,
			      &quiet, 0);
	if (rc >= 0) {
		free(sets);
		return rc;
	}
	if (!file) {
		free(sets);
		fprintf(stderr, "vcpusim validate: which scenario?\n%s", validate_help);
		return 2;
	}
	struct jp jp;
	jp_init(&jp, file);
	struct scenario *sc = scenario_load(&jp, file, sets, nsets);
	free(sets);
	if (!sc) {
		fprintf(stderr, "%s\n", jp.msg);
		return 2;
	}
	scenario_free(sc);
	return 0;
}

static const char list_help[] =
	"usage: vcpusim list policies|workloads\n\n"
	"Lists what is built in, one entry each (wrapped at 100 columns).\n";

/* Prints text from column `col` on, wrapped at word boundaries to 100 columns,
 * continuation lines indented to `indent`. Returns the column reached. */
static int wrap(const char *text, int col, int indent)
{
	const int width = 100;
	const char *p = text;
	while (*p) {
		size_t w = strcspn(p, " ");
		if (col > indent && col + 1 + (int)w > width) {
			printf("\n%*s", indent, "");
			col = indent;
		} else if (col > indent) {
			putchar(' ');
			col++;
		}
		printf("%.*s", (int)w, p);
		col += (int)w;
		p += w;
		while (*p == ' ')
			p++;
	}
	return col;
}

int cmd_list(int argc, char **argv)
{
	if (argc == 2 && !strcmp(argv[1], "policies")) {
		for (int i = 0; sched_policies[i]; i++) {
			int col = printf("%-10s ", sched_policies[i]->name);
			col = wrap(sched_policies[i]->summary, col, 11);
			char src[512];
			snprintf(src, sizeof src, "[%s]", sched_policies[i]->source);
			wrap(src, col, 11);
			putchar('\n');
		}
		return 0;
	}
	if (argc == 2 && !strcmp(argv[1], "workloads")) {
		for (int i = 0; workload_kinds[i]; i++) {
			int col = printf("%-10s ", workload_kinds[i]->name);
			wrap(workload_kinds[i]->summary, col, 11);
			putchar('\n');
		}
		return 0;
	}
	if (argc == 2 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"))) {
		fputs(list_help, stdout);
		return 0;
	}
	if (argc == 2)
		fprintf(stderr, "vcpusim list: '%s': expected policies or workloads\n", argv[1]);
	else
		fprintf(stderr, "vcpusim list: %s\n", argc < 2 ? "what? (policies or workloads)"
							 : "one argument only");
	fputs(list_help, stderr);
	return 2;
}
