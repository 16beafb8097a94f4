/* main.c: `vcpusim COMMAND ...`: dispatches to the subcommands (sim/cli.h). */
#include <stdio.h>
#include <string.h>
#include "sim/cli.h"
#include "sim/provenance.h"

struct command {
	const char *name;
	int (*fn)(int argc, char **argv);
	const char *summary;
};

static const struct command commands[] = {
	{ "run", cmd_run, "simulate a scenario (built-in default if none) and report" },
	{ "validate", cmd_validate, "check a scenario file; prints only errors" },
	{ "list", cmd_list, "list built-in policies or workloads" },
	{ "kvm", cmd_kvm, "run a scenario's VMs on real KVM vCPUs (ground truth)" },
	{ "compare", cmd_compare, "compare two results files side by side" },
	{ "sweep", cmd_sweep, "run a scenario across variations and seeds; results.csv, summary.csv" },
	{ "plot", cmd_plot, "gnuplot figures (PNG, SVG) from a sweep's output directory" },
	{ "trace", cmd_trace, "inspect or convert a captured trace (vcpusim or OTF2)" },
	{ "capture", cmd_capture, "run a program and capture its synchronisation trace" },
	{ "calibrate", cmd_calibrate, "measure this host and write a host profile (host activity, spin cost, ...)" },
};

static void usage(FILE *f)
{
	fprintf(f, "usage: vcpusim COMMAND [ARGS...]\n\n"
		   "vcpusim simulates multicore virtual machines' vCPUs scheduled on pCPUs by a\n"
		   "hypervisor policy (Xen Credit, gang, hybrid, ASMan, ...).\n\ncommands:\n");
	for (size_t i = 0; i < sizeof commands / sizeof *commands; i++)
		fprintf(f, "  %-10s %s\n", commands[i].name, commands[i].summary);
	fprintf(f, "\n`vcpusim COMMAND --help` describes one command; `vcpusim --version`.\n"
		   "Exit codes: 0 success, 2 bad input, 1 other failure.\n");
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		usage(stderr);
		return 2;
	}
	if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
		usage(stdout);
		return 0;
	}
	if (!strcmp(argv[1], "--version")) {
		printf("vcpusim %s (commit %s)\n", vcpusim_version, vcpusim_commit);
		return 0;
	}
	for (size_t i = 0; i < sizeof commands / sizeof *commands; i++)
		if (!strcmp(argv[1], commands[i].name))
			return commands[i].fn(argc - 1, argv + 1);
	fprintf(stderr, "vcpusim: unknown command '%s'\n", argv[1]);
	usage(stderr);
	return 2;
}
