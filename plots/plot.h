/* plot.h: the part of `vcpusim plot` that the fuzz target calls directly
 * (tests/fuzz/fuzz_timeline.c): reading a `run --trace` file into the timeline's
 * data, without drawing. */
#ifndef VCPUSIM_PLOT_H
#define VCPUSIM_PLOT_H
#include "sweep/sweep.h"   /* struct sbuf */

/* Reads TRACE (- : standard input) and writes the timeline's data blocks and its
 * gnuplot variables (names, npcpus) for the window [from, to) ms. Returns 0, or
 * 2 with the reason on stderr (the buffers are then empty). */
int plot_timeline_data(const char *trace, double from, double to, struct sbuf *dat,
		       struct sbuf *names_var, int *ngroups);

#endif
