/* provenance.c: records in every results JSON what produced it, so a results file
 * found later can be traced to the tool and the input (issue 14, item 3):
 *  - "vcpusim": {"version": the release (CMakeLists.txt project version),
 *    "commit": the git commit of the source tree, "-dirty" if tracked files had
 *    uncommitted changes, "unknown" outside a git checkout};
 *  - "effective_scenario": the scenario as it was run: the file (or the built-in
 *    scenario) with every --set override applied. Keys it leaves out take their
 *    defaults, which are those of the recorded version and commit
 *    (docs/scenario.md); with the seed inside, it reruns the same simulation.
 * The host profile a run used, when there is one, is recorded beside these in
 * "host_profile" by the host model. */
#include "sim/provenance.h"
#include "sim/scenario.h"

void provenance_add(cJSON *r, const struct scenario *sc)
{
	cJSON *v = cJSON_AddObjectToObject(r, "vcpusim");
	cJSON_AddStringToObject(v, "version", vcpusim_version);
	cJSON_AddStringToObject(v, "commit", vcpusim_commit);
	if (sc && sc->effective)
		cJSON_AddItemToObject(r, "effective_scenario", cJSON_Duplicate(sc->effective, 1));
}
