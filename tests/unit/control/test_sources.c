/*
 * The manifest directory as a rule source (lib/control/sources.h): a file that stops parsing
 * keeps its last good objects, failures are counted once, readiness needs one good load, and
 * the watch notices the directory appearing, vanishing and growing sub-folders.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "control/sources.h"

static char root[256];

static void setup(void)
{
	snprintf(root, sizeof(root), "/tmp/sluice-test-sources-XXXXXX");
	cr_assert_not_null(mkdtemp(root));
}

static void teardown(void)
{
	char cmd[300];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", root);
	cr_assert_eq(system(cmd), 0);
}

TestSuite(sources, .init = setup, .fini = teardown);

static void put(const char *rel, const char *text)
{
	char p[512], tmp[520];
	snprintf(p, sizeof(p), "%s/%s", root, rel);
	snprintf(tmp, sizeof(tmp), "%s.tmp", p);
	FILE *f = fopen(tmp, "w");
	cr_assert_not_null(f, "%s", tmp);
	fputs(text, f);
	fclose(f);
	cr_assert_eq(rename(tmp, p), 0);
}

static char *path(const char *rel)
{
	static char p[512];
	snprintf(p, sizeof(p), "%s/%s", root, rel);
	return p;
}

#define SVC(name)                                                                                  \
	"apiVersion: v1\nkind: Service\nmetadata: {name: " name ", namespace: t}\n"                \
	"spec: {ports: [{name: http, port: 80}]}\n"

/* Objects the source holds now, through a fresh model as the daemon does. */
static size_t objects(struct control_manifests *s)
{
	struct control_model *m = control_model_new();
	struct control_errors errs = {0};
	control_manifests_fill(s, m, &errs);
	size_t n = control_object_count(m);
	control_model_free(m);
	control_errors_free(&errs);
	return n;
}

static int load(struct control_manifests *s, struct control_errors *errs)
{
	control_errors_free(errs);
	return control_manifests_load(s, errs);
}

static bool has_msg(const struct control_errors *e, const char *needle)
{
	for (size_t i = 0; i < e->n; i++)
		if (strstr(e->msgs[i], needle))
			return true;
	return false;
}

Test(sources, a_broken_file_keeps_its_last_good_objects)
{
	put("a.yaml", SVC("a1") "---\n" SVC("a2"));
	put("b.yaml", SVC("b"));
	struct control_manifests *s = control_manifests_new(root);
	struct control_errors errs = {0};
	cr_assert_eq(load(s, &errs), 0);
	cr_assert_eq(objects(s), 3);
	const struct control_manifests_stats *st = control_manifests_stats(s);
	cr_assert_eq(st->files, 2);
	cr_assert_eq(st->files_failing, 0);

	put("a.yaml", SVC("a1") "---\nkind: Service\nmetadata: {name: [oops\n");
	cr_assert_eq(load(s, &errs), 0);
	cr_assert_eq(objects(s), 3, "a typo must not remove a1 and a2");
	cr_assert(has_msg(&errs, "YAML syntax"));
	cr_assert(has_msg(&errs, "a.yaml: keeping the 2 document(s)"));
	cr_assert_eq(st->files_failing, 1);
	cr_assert_eq(st->errors, 1);
	cr_assert_eq(load(s, &errs), 0);
	cr_assert_eq(st->errors, 1, "the same broken version is counted once");

	put("a.yaml", SVC("a1"));
	cr_assert_eq(load(s, &errs), 0);
	cr_assert_eq(objects(s), 2, "a fixed file replaces what it held");
	cr_assert_eq(st->files_failing, 0);
	control_errors_free(&errs);
	control_manifests_free(s);
}

Test(sources, a_deleted_file_takes_its_objects_along)
{
	put("a.yaml", SVC("a"));
	put("b.yaml", SVC("b"));
	struct control_manifests *s = control_manifests_new(root);
	struct control_errors errs = {0};
	cr_assert_eq(load(s, &errs), 0);
	cr_assert_eq(objects(s), 2);
	cr_assert_eq(unlink(path("b.yaml")), 0);
	cr_assert_eq(load(s, &errs), 0);
	cr_assert_eq(objects(s), 1);
	control_errors_free(&errs);
	control_manifests_free(s);
}

Test(sources, a_file_never_good_gives_what_precedes_its_error)
{
	put("a.yaml", SVC("a1") "---\nkind: [\n");
	struct control_manifests *s = control_manifests_new(root);
	struct control_errors errs = {0};
	cr_assert_eq(load(s, &errs), 0);
	cr_assert_eq(objects(s), 1, "as control_load_dir and sluice route read it");
	cr_assert_eq(control_manifests_stats(s)->files_failing, 1);
	cr_assert_not(control_manifests_stats(s)->ready, "its only file fails");
	control_errors_free(&errs);
	control_manifests_free(s);
}

Test(sources, ready_after_one_good_load)
{
	struct control_errors errs = {0};
	char missing[300];
	snprintf(missing, sizeof(missing), "%s/nope", root);
	struct control_manifests *s = control_manifests_new(missing);
	cr_assert_eq(load(s, &errs), -1);
	cr_assert_not(control_manifests_stats(s)->present);
	cr_assert_not(control_manifests_stats(s)->ready, "a missing directory is not ready");
	control_manifests_free(s);

	put("bad.json", "{\"kind\": ");
	put("bad.yaml", "kind: [\n");
	s = control_manifests_new(root);
	cr_assert_eq(load(s, &errs), 0);
	cr_assert_not(control_manifests_stats(s)->ready, "every file fails to parse");
	put("good.yaml", SVC("g"));
	cr_assert_eq(load(s, &errs), 0);
	cr_assert(control_manifests_stats(s)->ready);
	put("good.yaml", "kind: [\n");
	cr_assert_eq(load(s, &errs), 0);
	cr_assert(control_manifests_stats(s)->ready, "still serving the last good objects");
	cr_assert_eq(objects(s), 1);
	control_manifests_free(s);

	char empty[300];
	snprintf(empty, sizeof(empty), "%s/empty", root);
	cr_assert_eq(mkdir(empty, 0755), 0);
	s = control_manifests_new(empty);
	cr_assert_eq(load(s, &errs), 0);
	cr_assert(control_manifests_stats(s)->ready, "an existing empty directory is ready");
	cr_assert_eq(control_manifests_stats(s)->files, 0);
	control_manifests_free(s);
	control_errors_free(&errs);
}

Test(sources, a_missing_directory_is_noticed_when_it_appears)
{
	char dir[300];
	snprintf(dir, sizeof(dir), "%s/a/b", root);
	struct control_manifests *s = control_manifests_new(dir);
	cr_assert_geq(control_manifests_watch(s), 0);
	struct control_errors errs = {0};
	cr_assert_eq(load(s, &errs), -1);
	cr_assert(has_msg(&errs, "for it to appear"), "says which ancestor it watches");
	cr_assert_not(control_manifests_drain(s));

	cr_assert_eq(mkdir(path("a"), 0755), 0);
	cr_assert(control_manifests_drain(s), "a step towards the directory");
	cr_assert_eq(mkdir(dir, 0755), 0);
	cr_assert(control_manifests_drain(s), "the directory itself");
	put("a/b/x.yaml", SVC("x"));
	cr_assert(control_manifests_drain(s), "now its files are watched");
	cr_assert_eq(load(s, &errs), 0);
	cr_assert_eq(objects(s), 1);

	/* Removed: everything is kept, and its coming back is noticed again. */
	cr_assert_eq(unlink(path("a/b/x.yaml")), 0);
	cr_assert(control_manifests_drain(s));
	put("a/b/x.yaml", SVC("x"));
	char away[300];
	snprintf(away, sizeof(away), "%s/gone", root);
	cr_assert_eq(rename(dir, away), 0);
	cr_assert(control_manifests_drain(s), "the directory moved away");
	cr_assert_eq(load(s, &errs), -1);
	cr_assert_eq(objects(s), 1, "a vanished directory keeps what it held");
	cr_assert_eq(rename(away, dir), 0);
	cr_assert(control_manifests_drain(s), "and moved back");
	cr_assert_eq(load(s, &errs), 0);
	cr_assert_eq(objects(s), 1);
	control_errors_free(&errs);
	control_manifests_free(s);
}

Test(sources, new_sub_folders_are_watched)
{
	struct control_manifests *s = control_manifests_new(root);
	cr_assert_geq(control_manifests_watch(s), 0);
	cr_assert_eq(mkdir(path("sub"), 0755), 0);
	cr_assert(control_manifests_drain(s));
	put("sub/y.yaml", SVC("y"));
	cr_assert(control_manifests_drain(s), "a change inside the new folder");
	struct control_errors errs = {0};
	cr_assert_eq(load(s, &errs), 0);
	cr_assert_eq(objects(s), 1);
	control_errors_free(&errs);
	control_manifests_free(s);
}
