/* registry.c: the built-in scheduling policies. Adding one is one line here. */
#include <string.h>
#include "models/sched.h"

extern const struct sched_ops sched_credit;

const struct sched_ops *const sched_policies[] = {
	&sched_credit,
	NULL,
};

const struct sched_ops *sched_find(const char *name)
{
	for (int i = 0; sched_policies[i]; i++)
		if (!strcmp(sched_policies[i]->name, name))
			return sched_policies[i];
	return NULL;
}
