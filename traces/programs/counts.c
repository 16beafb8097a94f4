/* counts.c: an OpenMP program with known synchronisation counts, for the capture
 * tests: REGIONS parallel regions, in each of which every thread passes BARRIERS
 * explicit barriers, takes an omp lock LOCKS times and enters `omp critical`
 * CRITICALS times, then runs LOOPS dynamically scheduled `omp for` loops (each ends
 * with GOMP_loop_end, an implicit barrier). So per thread: REGIONS region begins
 * and ends, REGIONS*BARRIERS explicit barriers, REGIONS*LOOPS worksharing-end
 * barriers and REGIONS*(LOCKS+CRITICALS) lock acquisitions.
 * usage: counts REGIONS BARRIERS LOCKS CRITICALS [LOOPS] */
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>

static volatile double sink;

static void work(int n)
{
	double x = 1;
	for (int i = 0; i < n; i++)
		x = x * 1.0000001 + 1e-9;
	sink = x;
}

int main(int argc, char **argv)
{
	if (argc != 5 && argc != 6) {
		fprintf(stderr, "usage: counts REGIONS BARRIERS LOCKS CRITICALS [LOOPS]\n");
		return 2;
	}
	int regions = atoi(argv[1]), barriers = atoi(argv[2]), locks = atoi(argv[3]),
	    crits = atoi(argv[4]), loops = argc == 6 ? atoi(argv[5]) : 0;
	omp_lock_t lock;
	omp_init_lock(&lock);
	long taken = 0;
	for (int r = 0; r < regions; r++) {
#pragma omp parallel
		{
			for (int b = 0; b < barriers; b++) {
				work(2000);
#pragma omp barrier
			}
			for (int l = 0; l < locks; l++) {
				work(500);
				omp_set_lock(&lock);
				taken++;
				omp_unset_lock(&lock);
			}
			for (int c = 0; c < crits; c++) {
				work(500);
#pragma omp critical
				taken++;
			}
			for (int l = 0; l < loops; l++) {
#pragma omp for schedule(dynamic)
				for (int i = 0; i < 64; i++)
					work(100);
			}
		}
	}
	omp_destroy_lock(&lock);
	printf("counts: %ld acquisitions in all\n", taken);
	return 0;
}
