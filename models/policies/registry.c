/* registry.c: the built-in scheduling policies. Adding one is one line here. */
#include <string.h>
#include "models/sched.h"

extern const struct sched_ops sched_credit;
extern const struct sched_ops sched_gang;
extern const struct sched_ops sched_hybrid;
extern const struct sched_ops sched_asman;
extern const struct sched_ops sched_hybrid_ipi;
extern const struct sched_ops sched_balance;
extern const struct sched_ops sched_relaxed;
extern const struct sched_ops sched_credit2;
extern const struct sched_ops sched_coresched;
extern const struct sched_ops sched_kvm;
extern const struct sched_ops sched_credit_ple;
extern const struct sched_ops sched_dcs;

const struct sched_ops *const sched_policies[] = {
	&sched_credit,
	&sched_gang,
	&sched_hybrid,
	&sched_asman,
	&sched_hybrid_ipi,
	&sched_balance,
	&sched_relaxed,
	&sched_credit2,
	&sched_coresched,
	&sched_kvm,
	&sched_credit_ple,
	&sched_dcs,
	NULL,
};

const struct sched_ops *sched_find(const char *name)
{
	for (int i = 0; sched_policies[i]; i++)
		if (!strcmp(sched_policies[i]->name, name))
			return sched_policies[i];
	return NULL;
}
