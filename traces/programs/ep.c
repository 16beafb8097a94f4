/* ep.c: an embarrassingly parallel OpenMP program (sample for traces/samples/), in
 * the spirit of NPB EP: each thread draws pseudo-random points independently for a
 * fixed number of rounds; threads meet only at the start and end of the region.
 * usage: ep [POINTS]   (default 20000000 points) */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

int main(int argc, char **argv)
{
	long points = argc > 1 ? atol(argv[1]) : 20000000;
	if (points < 1) {
		fprintf(stderr, "usage: ep [POINTS>=1]\n");
		return 2;
	}
	long inside = 0;
#pragma omp parallel for schedule(static) reduction(+ : inside)
	for (long i = 0; i < points; i++) {
		uint64_t x = (uint64_t)i * 0x9E3779B97F4A7C15u;
		x ^= x >> 31;
		x *= 0xBF58476D1CE4E5B9u;
		x ^= x >> 27;
		double u = (double)(x >> 40) / (double)(1 << 24);
		double v = (double)(x & 0xFFFFFF) / (double)(1 << 24);
		inside += u * u + v * v <= 1.0;
	}
	printf("ep: %ld points, pi ~ %.6f\n", points, 4.0 * (double)inside / (double)points);
	return 0;
}
