/* provenance.h: what made a results file: the tool's version and source commit
 * and the effective scenario (docs/interface.md, "Provenance"). */
#ifndef VCPUSIM_PROVENANCE_H
#define VCPUSIM_PROVENANCE_H
#include <cjson/cJSON.h>

struct scenario;

/* Generated at build time by cmake/version.cmake (version.c in the build dir). */
extern const char vcpusim_version[];
extern const char vcpusim_commit[];

/* Adds "vcpusim" {"version", "commit"} and, if the scenario kept its document,
 * "effective_scenario" (the scenario as run: the file with every --set applied)
 * to the results object R. */
void provenance_add(cJSON *r, const struct scenario *sc);

#endif
