/* cli.h: the subcommands of `vcpusim`, one function each (interface.md,
 * "Commands"). Each returns the process exit code: 0 success, 2 bad input, 1 any
 * other failure. */
#ifndef VCPUSIM_CLI_H
#define VCPUSIM_CLI_H
#include <stddef.h>

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

/* Writes data to path atomically: a temporary file in the same directory, then
 * rename, so an interrupted run never leaves a half-written output. Returns 0 or
 * -1 with errno set. */
int write_file_atomic(const char *path, const char *data, size_t len);

#endif
