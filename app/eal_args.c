/*
 * eal_args.c: the EAL command line, derived from the configuration.
 *
 * Lcores and devices come from `lcores` and `ports` only (the validator refuses them in
 * eal.args), so the two can never disagree; eal.args and the words after `--` on the command
 * line are appended as they are.
 *
 * Also here: the hugepage files EAL leaves behind. EAL creates one file per page in hugetlbfs
 * (named after --file-prefix) and unlinks a page's file when the page is freed, but memory
 * that DPDK itself never frees (ethdev's shared data, for one) keeps its page, and
 * rte_eal_cleanup() unmaps without unlinking: by design, so that files can be inspected, and
 * the next start with the same prefix deletes them. A gateway that failed to start, or
 * stopped, must not hold hugepages until then, so the daemon notes the files of the pages it
 * still maps just before rte_eal_cleanup() and removes them after. Only files this process
 * mapped are touched; a capture process attached at that moment keeps its mapping. EAL's
 * runtime directory goes too when it is empty (--in-memory).
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>

#include <rte_common.h>
#include <rte_eal.h>
#include <rte_memory.h>

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

#define HUGETLBFS_MAGIC 0x958458f6

static char **hugefiles;
static size_t n_hugefiles, cap_hugefiles;

static int note_hugefile(const struct rte_memseg_list *msl, const struct rte_memseg *ms, void *arg)
{
	(void)msl;
	(void)arg;
	int fd = rte_memseg_get_fd_thread_unsafe(ms);
	if (fd < 0)
		return 0; /* external memory, legacy mode, --in-memory without files */
	char link[64], path[4096];
	snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
	ssize_t n = readlink(link, path, sizeof(path) - 1);
	if (n <= 0)
		return 0;
	path[n] = '\0';
	struct statfs fs;
	if (statfs(path, &fs) != 0 || fs.f_type != HUGETLBFS_MAGIC)
		return 0; /* a memfd (--in-memory) or already gone */
	for (size_t i = 0; i < n_hugefiles; i++)
		if (strcmp(hugefiles[i], path) == 0)
			return 0; /* single-file segments: one file, many pages */
	if (n_hugefiles == cap_hugefiles) {
		size_t cap = cap_hugefiles ? cap_hugefiles * 2 : 16;
		char **nv = realloc(hugefiles, cap * sizeof(*nv));
		if (nv == NULL)
			return 0;
		hugefiles = nv;
		cap_hugefiles = cap;
	}
	if ((hugefiles[n_hugefiles] = strdup(path)) != NULL)
		n_hugefiles++;
	return 0;
}

void eal_note_hugepage_files(void)
{
	rte_memseg_walk(note_hugefile, NULL);
}

void eal_remove_hugepage_files(void)
{
	for (size_t i = 0; i < n_hugefiles; i++) {
		unlink(hugefiles[i]);
		free(hugefiles[i]);
	}
	free(hugefiles);
	hugefiles = NULL;
	n_hugefiles = cap_hugefiles = 0;
}

/* EAL's runtime directory (/var/run/dpdk/PREFIX) is left behind too. Its telemetry socket goes
 * in an exit handler EAL registers during rte_eal_init; this one, registered before, runs after
 * it. With --in-memory the directory is then empty and goes, after a failed start too; with
 * shared files in it (capture needs them, or another process uses the prefix), it stays. */
static void remove_runtime_dir(void)
{
	const char *dir = rte_eal_get_runtime_dir();
	if (dir && dir[0])
		rmdir(dir);
}

void eal_remove_runtime_dir_at_exit(void)
{
	atexit(remove_runtime_dir);
}
