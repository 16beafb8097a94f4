/* compare.c: `vcpusim compare A.json B.json` (stub, being written). */
#include "sim/cli.h"
int cmd_compare(int argc, char **argv) { return 1; }
