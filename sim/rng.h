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

/* The same stream kept inside the entity that draws from it (a vCPU, a pCPU, a
 * VM): its gsl_rng (GSL's public {type, state} pair, gsl_rng.h) and taus2's
 * state side by side, with no allocation. A draw then reads the entity's own
 * cache lines instead of two small blocks elsewhere on the heap, each a cache
 * miss on a large host (docs/performance.md). Declared as an array of one so that
 * `e->rng` is the gsl_rng * every GSL call takes. Draws are GSL's own (the type
 * is gsl_rng_taus2, seeded by its set function), bit for bit those of
 * rng_stream's. Nothing to free. */
#define RNG_STATE_WORDS 3      /* taus2's state: three unsigned longs (taus.c) */
#define RNG_EMBEDDED(name)                                   \
	gsl_rng name[1];                                     \
	unsigned long name##_state[RNG_STATE_WORDS]
void rng_stream_init(gsl_rng *r, unsigned long *state, uint64_t seed, enum rng_kind kind,
		     uint64_t id);
uint64_t rng_mix(uint64_t x);

/* gsl_rng_uniform(r), bit for bit: for a taus2 stream (every stream made here)
 * taus2's step inline, as GSL's taus.c computes it (taus_get, taus_get_double:
 * the same shifts, masks and division), without the call through the type's
 * function pointer; any other generator through GSL. */
static inline double rng_uniform(const gsl_rng *r)
{
	if (__builtin_expect(r->type != gsl_rng_taus2, 0))
		return gsl_rng_uniform(r);
	unsigned long *st = r->state;
#define RNG_TAUS(s, a, b, c, d) \
	((((s) & (c)) << (d)) & 0xffffffffUL) ^ (((((s) << (a)) & 0xffffffffUL) ^ (s)) >> (b))
	st[0] = RNG_TAUS(st[0], 13, 19, 4294967294UL, 12);
	st[1] = RNG_TAUS(st[1], 2, 25, 4294967288UL, 4);
	st[2] = RNG_TAUS(st[2], 3, 11, 4294967280UL, 17);
#undef RNG_TAUS
	return (double)(st[0] ^ st[1] ^ st[2]) / 4294967296.0;
}

#endif
