/* bitmap.h: fixed-size sets of pCPU ids (Xen's cpumask_t), for affinity, idlers
 * and topology maps. Words are 64 bits; hosts have up to a few thousand pCPUs. */
#ifndef VCPUSIM_BITMAP_H
#define VCPUSIM_BITMAP_H
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

typedef uint64_t bitword_t;

static inline int bitmap_words(int nbits) { return (nbits + 63) / 64; }
static inline bitword_t *bitmap_alloc(int nbits)
{
	bitword_t *b = calloc((size_t)bitmap_words(nbits) ? (size_t)bitmap_words(nbits) : 1, sizeof *b);
	if (!b)
		abort();
	return b;
}
static inline void bitmap_set(bitword_t *b, int i) { b[i >> 6] |= (bitword_t)1 << (i & 63); }
static inline void bitmap_clear(bitword_t *b, int i) { b[i >> 6] &= ~((bitword_t)1 << (i & 63)); }
static inline int bitmap_test(const bitword_t *b, int i) { return (int)((b[i >> 6] >> (i & 63)) & 1); }
static inline void bitmap_fill(bitword_t *b, int nbits)
{
	memset(b, 0, (size_t)bitmap_words(nbits) * sizeof *b);
	for (int i = 0; i < nbits; i++)
		bitmap_set(b, i);
}
static inline int bitmap_count(const bitword_t *b, int nbits)
{
	int c = 0;
	for (int w = 0; w < bitmap_words(nbits); w++)
		c += __builtin_popcountll(b[w]);
	return c;
}
static inline int bitmap_empty(const bitword_t *b, int nbits)
{
	for (int w = 0; w < bitmap_words(nbits); w++)
		if (b[w])
			return 0;
	return 1;
}
/* Lowest set bit >= from, or -1. */
static inline int bitmap_next(const bitword_t *b, int nbits, int from)
{
	if (from >= nbits || from < 0)
		return -1;
	int w = from >> 6;
	bitword_t word = b[w] & (~(bitword_t)0 << (from & 63));
	for (;;) {
		if (word) {
			int i = (w << 6) + __builtin_ctzll(word);
			return i < nbits ? i : -1;
		}
		if (++w >= bitmap_words(nbits))
			return -1;
		word = b[w];
	}
}
/* Xen's cycle_cpu: the next set bit after i, wrapping around; -1 if empty. */
static inline int bitmap_cycle(const bitword_t *b, int nbits, int i)
{
	int n = bitmap_next(b, nbits, i + 1);
	return n >= 0 ? n : bitmap_next(b, nbits, 0);
}
/* Number of bits set in both a and b. */
static inline int bitmap_count_and(const bitword_t *a, const bitword_t *b, int nbits)
{
	int c = 0;
	for (int w = 0; w < bitmap_words(nbits); w++)
		c += __builtin_popcountll(a[w] & b[w]);
	return c;
}

#endif
