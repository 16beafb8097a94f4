/* rng.h: one GSL random stream per entity, all derived from the scenario seed.
 *
 * A stream's seed is a hash of (scenario seed, entity kind, entity id), so adding a
 * VM does not shift the numbers any other VM draws, and a run is reproducible bit
 * for bit. The generator is GSL's taus2 (Tausworthe, L'Ecuyer 1996): 24 bytes of
 * state, so memory stays small with thousands of vCPUs (mt19937 needs 5 KB). */
#ifndef VCPUSIM_RNG_H
#define VCPUSIM_RNG_H
#include <stdint.h>
#include <gsl/gsl_rng.h>

enum rng_kind { RNG_VCPU = 1, RNG_VM = 2, RNG_POLICY = 3, RNG_WORKLOAD = 4, RNG_PCPU = 5 };

gsl_rng *rng_stream(uint64_t seed, enum rng_kind kind, uint64_t id);
uint64_t rng_mix(uint64_t x);

#endif
