/* gp_quote.h: the one way a string reaches a gnuplot script (issue 13, item 1).
 * Scenario names, VM names, labels, policies and paths come from files a user may
 * have received from someone else; gnuplot runs `system()`, backquotes and `!cmd`
 * from its script, so every such string is written as a single-quoted gnuplot
 * string built here and nowhere else. */
#ifndef VCPUSIM_GP_QUOTE_H
#define VCPUSIM_GP_QUOTE_H

/* Returns s as a gnuplot single-quoted string literal, malloc'd (NULL when out
 * of memory). In gnuplot's single-quoted strings nothing is special but the
 * quote itself, written twice (gnuplot 5.4 docs, "Syntax > Quote marks"), and no
 * backquote substitution is done ("Substitution > Substitution of system
 * commands in backquotes": only outside single quotes). A line break would end
 * the command and start a new one, so line breaks and every other control
 * character become a space. */
char *gp_quote(const char *s);

#endif
