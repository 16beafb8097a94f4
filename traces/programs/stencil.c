/* stencil.c: a barrier-heavy OpenMP program (sample for traces/samples/): a 1-D
 * Jacobi heat stencil, one `omp for` per time step, so every step ends at a team
 * barrier (GOMP_barrier, static schedule) after a few tens of microseconds of work.
 * usage: stencil [CELLS] [STEPS]   (defaults 40000 cells, 2000 steps)
 * It prints, after its checksum, its own run time from main() to the end of its
 * work: the span a captured trace of it covers (from the capture library's
 * constructor to thread exit), without the process's exec, dynamic loading and
 * exit, which the simulator does not model (scripts/validate-omp.sh times it). */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static double now_ms(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec * 1e3 + (double)t.tv_nsec / 1e6;
}

int main(int argc, char **argv)
{
	double t0 = now_ms();
	long cells = argc > 1 ? atol(argv[1]) : 40000;
	long steps = argc > 2 ? atol(argv[2]) : 2000;
	if (cells < 3 || steps < 1) {
		fprintf(stderr, "usage: stencil [CELLS>=3] [STEPS>=1]\n");
		return 2;
	}
	double *a = calloc((size_t)cells, sizeof *a), *b = calloc((size_t)cells, sizeof *b);
	if (!a || !b)
		return 1;
	a[cells / 2] = b[cells / 2] = 1e6;
#pragma omp parallel
	{
		for (long s = 0; s < steps; s++) {
			double *src = s % 2 ? b : a, *dst = s % 2 ? a : b;
#pragma omp for schedule(static)
			for (long i = 1; i < cells - 1; i++)
				dst[i] = 0.25 * src[i - 1] + 0.5 * src[i] + 0.25 * src[i + 1];
		}
	}
	double sum = 0;
	for (long i = 0; i < cells; i++)
		sum += a[i] + b[i];
	printf("stencil: %ld cells, %ld steps, checksum %.6g, %.3f ms\n", cells, steps, sum,
	       now_ms() - t0);
	free(a);
	free(b);
	return 0;
}
