/* cli.h: the subcommands of `vcpusim`, one function each (interface.md,
 * "Commands"). Each returns the process exit code: 0 success, 2 bad input, 1 any
 * other failure. */
#ifndef VCPUSIM_CLI_H
#define VCPUSIM_CLI_H
#include <stddef.h>
#include "sim/outfile.h"

int cmd_run(int argc, char **argv);
int cmd_validate(int argc, char **argv);
int cmd_list(int argc, char **argv);
int cmd_kvm(int argc, char **argv);      /* kvm/cmd_kvm.c */
int cmd_compare(int argc, char **argv);  /* kvm/compare.c */
int cmd_sweep(int argc, char **argv);
int cmd_plot(int argc, char **argv);
int cmd_trace(int argc, char **argv);    /* traces/trace_cmd.c */
int cmd_capture(int argc, char **argv);
int cmd_calibrate(int argc, char **argv); /* kvm/calibrate.c */

/* write_file_atomic: sim/outfile.h */

#endif
