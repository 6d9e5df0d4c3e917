/*
 * eal_args.c: the EAL command line, derived from the configuration.
 *
 * Lcores and devices come from `lcores` and `ports` only (the validator refuses them in
 * eal.args), so the two can never disagree; eal.args and the words after `--` on the command
 * line are appended as they are.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <rte_common.h>

#include "daemon-int.h"

static void arg_add(struct argv_builder *a, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static void arg_add(struct argv_builder *a, const char *fmt, ...)
{
	if (a->n >= (int)RTE_DIM(a->v) - 1)
		die("too many EAL arguments");
	va_list ap;
	va_start(ap, fmt);
	if (vasprintf(&a->v[a->n], fmt, ap) < 0)
		die("out of memory");
	va_end(ap);
	a->n++;
	a->v[a->n] = NULL;
}

bool eal_is_vdev(const char *devargs)
{
	return strncmp(devargs, "net_", 4) == 0 || strncmp(devargs, "eth_", 4) == 0;
}

void eal_device_name(const char *devargs, char *out, size_t len)
{
	snprintf(out, len, "%s", devargs);
	char *comma = strchr(out, ',');
	if (comma)
		*comma = '\0';
}

bool eal_has_arg(const struct sluice_conf *c, int extra_argc, char **extra, const char *name)
{
	for (unsigned i = 0; i < c->n_eal_args; i++)
		if (strcmp(c->eal_args[i], name) == 0)
			return true;
	for (int i = 0; i < extra_argc; i++)
		if (strcmp(extra[i], name) == 0)
			return true;
	return false;
}

void eal_build_args(const struct sluice_conf *c, int extra_argc, char **extra,
		    struct argv_builder *a)
{
	arg_add(a, "sluice");
	/* Map lcore ids to CPUs. An lcore id past the machine's CPUs shares a CPU (a polling
	 * worker then competes for it): allowed, for tests on small machines, with a notice. */
	long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
	char lcores[1024];
	int used = snprintf(lcores, sizeof(lcores), "%u@%ld", c->management_lcore,
			    (long)c->management_lcore % ncpu);
	bool shared = c->management_lcore >= ncpu;
	for (unsigned i = 0; i < c->n_workers; i++) {
		used += snprintf(lcores + used, sizeof(lcores) - (size_t)used, ",%u@%ld",
				 c->workers[i], (long)c->workers[i] % ncpu);
		shared |= c->workers[i] >= ncpu;
	}
	if (shared)
		log_warning("lcores: this machine has %ld CPUs; some lcores share a CPU (fine for "
			    "tests, "
			    "slow in production)",
			    ncpu);
	arg_add(a, "--lcores=%s", lcores);
	arg_add(a, "--main-lcore=%u", c->management_lcore);
	for (unsigned i = 0; i < c->n_ports; i++) {
		const struct conf_port *p = &c->ports[i];
		if (eal_is_vdev(p->devargs)) {
			char dev[CONF_STR_LEN + 64];
			snprintf(dev, sizeof(dev), "%s", p->devargs);
			/* Drivers whose queue count is a devarg get one queue per worker. */
			const char *qa = p->profile.queue_devarg;
			if (qa[0] && strstr(p->devargs, qa) == NULL) {
				unsigned q =
					p->profile.rx_queues ? p->profile.rx_queues : c->n_workers;
				size_t l = strlen(dev);
				snprintf(dev + l, sizeof(dev) - l, ",%s=%u", qa, q);
			}
			arg_add(a, "--vdev=%s", dev);
		} else {
			arg_add(a, "--allow=%s", p->devargs);
		}
	}
	if (!eal_has_arg(c, extra_argc, extra, "--no-pci")) {
		bool any_pci = false;
		for (unsigned i = 0; i < c->n_ports; i++)
			any_pci |= !eal_is_vdev(c->ports[i].devargs);
		if (!any_pci)
			arg_add(a, "--no-pci");
	}
	for (unsigned i = 0; i < c->n_eal_args; i++)
		arg_add(a, "%s", c->eal_args[i]);
	for (int i = 0; i < extra_argc; i++)
		arg_add(a, "%s", extra[i]);
}

long eal_free_hugepages(void)
{
	FILE *f = fopen("/proc/meminfo", "r");
	if (f == NULL)
		return -1;
	char line[256];
	long v = -1;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "HugePages_Free: %ld", &v) == 1)
			break;
	fclose(f);
	return v;
}
