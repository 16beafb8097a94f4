/* xalloc.h: allocation that cannot fail quietly. Running out of memory is not
 * bad input (scenarios are size-limited up front): the process says so and
 * exits 1 (interface.md: 1 = any other failure). */
#ifndef VCPUSIM_XALLOC_H
#define VCPUSIM_XALLOC_H
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static inline void *xalloc_check(void *p)
{
	if (!p) {
		fprintf(stderr, "vcpusim: out of memory\n");
		exit(1);
	}
	return p;
}

/* calloc that never returns NULL (n = 0 allocates one element) */
static inline void *xcalloc(size_t n, size_t size)
{
	return xalloc_check(calloc(n ? n : 1, size));
}

/* xcalloc of memory aligned to align bytes (a power of two, at least
 * sizeof(void *)), for types declared with that alignment (struct vcpu); free()
 * releases it */
static inline void *xcalloc_aligned(size_t align, size_t n, size_t size)
{
	size_t bytes = (n ? n : 1) * size;
	bytes = (bytes + align - 1) / align * align;   /* aligned_alloc wants a multiple */
	void *p = xalloc_check(aligned_alloc(align, bytes));
	memset(p, 0, bytes);
	return p;
}

static inline char *xstrdup(const char *s)
{
	return xalloc_check(strdup(s ? s : ""));
}

#endif
