/* scenario.h: a scenario as read and validated from JSON (interface.md), before
 * the model is built from it. Every field has a documented default (docs/scenario.md). */
#ifndef VCPUSIM_SCENARIO_H
#define VCPUSIM_SCENARIO_H
#include <stdint.h>
#include <cjson/cJSON.h>
#include "sim/simtime.h"
#include "sim/jparse.h"
#include "models/sched.h"
#include "models/guest.h"
#include "models/host.h"

struct vm_config {
	char *name;             /* replicas: NAME-0, NAME-1, ... */
	int vcpus, weight, cap, concurrent;
	int native;             /* its threads are a native process's (docs/scenario.md) */
	simtime_t start_ns;     /* its vCPUs come online from this time */
	int index;              /* position in the scenario's "vms" array (for error paths) */
	int *affinity;          /* nvcpus x npcpus flags, NULL = all pCPUs */
	const struct workload_kind *wk;
	struct workload_params *wp;  /* shared by replicas; owned by the first */
	int owns_wp;
};

struct scenario {
	char *file;
	char *name;
	uint64_t seed;
	simtime_t max_ns;
	simtime_t start_spread_ns;   /* vCPUs come online at uniform times in [0, this) */
	int check;                   /* run invariant checks after every event */
	int npcpus, sockets, cores, threads;
	double ghz;
	struct host_profile *profile;  /* host.profile (models/host.h); never NULL */
	int activity;                /* host.activity "on": the profile's host activity
	                                and timer lateness; "off": an idealised clockwork host */
	const struct sched_ops *policy;
	void *policy_params;
	struct guest_config guest;
	int nvms;
	struct vm_config *vms;       /* replicas expanded */
	cJSON *effective;            /* the document as run (--set applied), for provenance; may be NULL */
};

/* Loads FILE (NULL = the built-in default scenario), applies the --set overrides,
 * validates. On bad input returns NULL with the message in jp->msg. */
struct scenario *scenario_load(struct jp *jp, const char *file, char *const *sets, int nsets);
struct scenario *scenario_from_json(struct jp *jp, cJSON *doc);
void scenario_free(struct scenario *sc);
extern const char *const scenario_builtin_default;

#endif
