/* testlib.h: helpers for the C tests: build a scenario from JSON text, run it
 * with invariant checks on, and assert with messages that say what was expected. */
#ifndef VCPUSIM_TESTLIB_H
#define VCPUSIM_TESTLIB_H
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "sim/results.h"
#include "sim/scenario.h"
#include "sim/sim.h"

static int t_failures, t_checks;
#pragma GCC diagnostic ignored "-Wunused-function"

#define EXPECT(cond, ...) do { \
	t_checks++; \
	if (!(cond)) { \
		t_failures++; \
		fprintf(stderr, "FAIL %s:%d: %s: ", __FILE__, __LINE__, #cond); \
		fprintf(stderr, __VA_ARGS__); \
		fputc('\n', stderr); \
	} \
} while (0)

/* Parses the scenario (fails the test on error) and forces invariant checks. */
static struct scenario *t_scenario(const char *json)
{
	struct jp jp;
	jp_init(&jp, "(test)");
	cJSON *doc = cJSON_Parse(json);
	if (!doc) {
		fprintf(stderr, "FAIL: test scenario is not JSON: %s\n", json);
		exit(1);
	}
	struct scenario *sc = scenario_from_json(&jp, doc);
	cJSON_Delete(doc);
	if (!sc) {
		fprintf(stderr, "FAIL: test scenario rejected: %s\n", jp.msg);
		exit(1);
	}
	sc->check = 1;
	return sc;
}

/* Runs to the end; the returned sim is to be freed with t_done. */
static struct sim *t_run(struct scenario *sc)
{
	struct sim *s = sim_create(sc);
	int rc = sim_run(s);
	EXPECT(rc == 0, "invariants held during the run of %s", sc->name);
	return s;
}

static void t_done(struct sim *s, struct scenario *sc)
{
	sim_destroy(s);
	scenario_free(sc);
}

static struct vm *t_vm(struct sim *s, const char *name)
{
	for (int i = 0; i < s->nvms; i++)
		if (!strcmp(s->vms[i].name, name))
			return &s->vms[i];
	fprintf(stderr, "FAIL: no VM named %s\n", name);
	exit(1);
}

static double t_cpu_ms(const struct vm *vm)
{
	simtime_t t = 0;
	for (int i = 0; i < vm->nvcpus; i++)
		t += vm->vcpus[i].st.work_ns + vm->vcpus[i].st.spin_ns + vm->vcpus[i].st.sys_ns;
	return simtime_ms(t);
}

/* Results JSON (results_build) helpers: a VM's object by name, a number or NaN. */
static const cJSON *vm_of(const cJSON *r, const char *name)
{
	const cJSON *v;
	cJSON_ArrayForEach(v, cJSON_GetObjectItem(r, "vms"))
		if (!strcmp(cJSON_GetObjectItem(v, "name")->valuestring, name))
			return v;
	fprintf(stderr, "FAIL: no VM %s in results\n", name);
	exit(1);
}

static double num(const cJSON *o, const char *k)
{
	const cJSON *x = cJSON_GetObjectItem(o, k);
	return x && cJSON_IsNumber(x) ? x->valuedouble : (double)NAN;
}

static int t_finish(const char *name)
{
	printf("%s: %d checks, %d passed, %d failed\n", name, t_checks, t_checks - t_failures, t_failures);
	return t_failures ? 1 : 0;
}

#endif
