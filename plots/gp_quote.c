/* gp_quote.c: quoting of untrusted strings for gnuplot scripts (plots/gp_quote.h). */
#include "plots/gp_quote.h"
#include <stdlib.h>
#include <string.h>

char *gp_quote(const char *s)
{
	size_t n = 3;
	for (const char *c = s; *c; c++)
		n += *c == '\'' ? 2 : 1;
	char *out = malloc(n), *o = out;
	if (!out)
		return NULL;
	*o++ = '\'';
	for (const unsigned char *c = (const unsigned char *)s; *c; c++) {
		if (*c == '\'') {
			*o++ = '\'';
			*o++ = '\'';
		} else {
			*o++ = *c < 0x20 || *c == 0x7f ? ' ' : (char)*c;
		}
	}
	*o++ = '\'';
	*o = 0;
	return out;
}
