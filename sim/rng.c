/* rng.c: per-entity GSL streams seeded through splitmix64 (see rng.h). */
#include "sim/rng.h"
#include <stdio.h>
#include <stdlib.h>

/* splitmix64 finaliser (Steele, Lea, Flood 2014): decorrelates nearby seeds. */
uint64_t rng_mix(uint64_t x)
{
	x += 0x9e3779b97f4a7c15ULL;
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
	x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
	return x ^ (x >> 31);
}

static unsigned long stream_seed(uint64_t seed, enum rng_kind kind, uint64_t id)
{
	uint64_t s = rng_mix(rng_mix(seed) ^ rng_mix(((uint64_t)kind << 56) ^ id));
	/* taus2 takes an unsigned long seed; 0 is replaced by GSL's default, so avoid it */
	return (unsigned long)(s ? s : 1);
}

gsl_rng *rng_stream(uint64_t seed, enum rng_kind kind, uint64_t id)
{
	gsl_rng *r = gsl_rng_alloc(gsl_rng_taus2);
	if (!r) {
		fprintf(stderr, "vcpusim: out of memory for a random stream\n");
		exit(1);
	}
	gsl_rng_set(r, stream_seed(seed, kind, id));
	return r;
}

void rng_stream_init(gsl_rng *r, unsigned long *state, uint64_t seed, enum rng_kind kind,
		     uint64_t id)
{
	if (gsl_rng_taus2->size > RNG_STATE_WORDS * sizeof *state) {
		/* a GSL whose taus2 keeps more state than taus.c's three words */
		fprintf(stderr, "vcpusim: GSL's taus2 state (%zu bytes) does not fit\n",
			gsl_rng_taus2->size);
		exit(1);
	}
	r->type = gsl_rng_taus2;
	r->state = state;
	gsl_rng_set(r, stream_seed(seed, kind, id));   /* gsl_rng_alloc's state, then set */
}
