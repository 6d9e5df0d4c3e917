/*
 * sources.c: the manifest directory (read once, or held per file and watched), static routes,
 * and the class (design in sources.h).
 *
 * Per-file state is an array in walk order (path, last documents, failing or not). A load
 * builds a new array from the walk, carrying a failing file's documents over from the old one
 * by path; files not seen any more drop out. Directories hold tens to thousands of files and a
 * load parses them all anyway, so a linear lookup by path costs nothing worth a hash.
 *
 * Watches: one inotify descriptor; a watch per folder of the tree (depth-limited as the walk
 * is), or, while the directory is missing, one watch on its nearest existing ancestor for the
 * next path component. Any structural event (a folder created or moved in, the directory
 * itself deleted or moved, the awaited component appearing, a queue overflow) drops every
 * watch and sets them up again from the path: simpler than patching the set, and rare.
 */
#include "control/sources.h"

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <unistd.h>

#define MAX_DEPTH 16

/* ---- the class and static routes ---------------------------------------------------------- */

struct control_class control_class_of(const char *name, const char *controller,
				      const char *default_backend, const char *load_balance)
{
	return (struct control_class){
		.name = name,
		.controller = controller,
		.default_backend = default_backend && default_backend[0] ? default_backend : NULL,
		.load_balance = load_balance && load_balance[0] ? load_balance : NULL,
	};
}

unsigned control_add_static_routes(struct control_model *m, const char *class_name,
				   const struct control_static_route *routes, unsigned n,
				   struct control_errors *errs)
{
	unsigned refused = 0;
	for (unsigned i = 0; i < n; i++) {
		const struct control_static_route *r = &routes[i];
		refused +=
			control_add_static_route(m, i, class_name, r->host, r->path, r->path_type,
						 r->addrs, r->ports, r->n, errs) != 0;
	}
	return refused;
}

/* ---- walking a manifest directory --------------------------------------------------------- */

static bool ends_with(const char *s, const char *suffix)
{
	size_t n = strlen(s), k = strlen(suffix);
	return n >= k && strcmp(s + n - k, suffix) == 0;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

typedef void (*walk_fn)(void *arg, const char *path, const struct stat *st);

/* Call fn for every manifest file under dir, in name order. -1 if dir cannot be read
 * (reported); sub-folders that cannot be read are reported and skipped. */
static int walk(const char *dir, int depth, walk_fn fn, void *arg, struct control_errors *errs)
{
	DIR *d = opendir(dir);
	if (d == NULL) {
		control_errors_add(errs, "%s: cannot read the manifest directory: %s", dir,
				   strerror(errno));
		return -1;
	}
	char **names = NULL;
	size_t n = 0, cap = 0;
	struct dirent *de;
	while ((de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.')
			continue; /* hidden files, and ..data links of mounted ConfigMaps */
		if (n == cap) {
			cap = cap ? cap * 2 : 32;
			char **nn = realloc(names, cap * sizeof(*nn));
			if (nn == NULL)
				break;
			names = nn;
		}
		if ((names[n] = strdup(de->d_name)) != NULL)
			n++;
	}
	closedir(d);
	if (n)
		qsort(names, n, sizeof(*names), cmp_str);
	for (size_t i = 0; i < n; i++) {
		char path[PATH_MAX];
		snprintf(path, sizeof(path), "%s/%s", dir, names[i]);
		struct stat st;
		if (stat(path, &st) == 0 && S_ISDIR(st.st_mode)) {
			if (depth < MAX_DEPTH)
				walk(path, depth + 1, fn, arg, errs);
		} else if (ends_with(names[i], ".yaml") || ends_with(names[i], ".yml") ||
			   ends_with(names[i], ".json")) {
			fn(arg, path, &st);
		}
		free(names[i]);
	}
	free(names);
	return 0;
}

struct load_once {
	struct control_model *m;
	struct control_errors *errs;
	int stored;
};

static void load_once_file(void *arg, const char *path, const struct stat *st)
{
	(void)st;
	struct load_once *l = arg;
	l->stored += control_load_file(l->m, path, l->errs);
}

int control_load_dir(struct control_model *m, const char *dir, struct control_errors *errs)
{
	struct load_once l = {m, errs, 0};
	return walk(dir, 0, load_once_file, &l, errs) < 0 ? -1 : l.stored;
}

/* ---- the watched, per-file source --------------------------------------------------------- */

struct mfile {
	char *path;
	json_t *docs; /* control_parse_file's array: the last good version while failing */
	bool failing;
	struct timespec mtime; /* of the content that failed: a failure is counted once */
	off_t size;
};

struct control_manifests {
	char *dir;
	struct mfile *files;
	size_t n;
	int fd;
	int *wds;
	size_t n_wds, cap_wds;
	int root_wd;		  /* the directory itself */
	int anc_wd;		  /* its nearest existing ancestor, while it is missing */
	char anc[PATH_MAX];	  /* that ancestor */
	char child[NAME_MAX + 1]; /* the component of dir awaited in anc */
	struct control_manifests_stats st;
};

struct control_manifests *control_manifests_new(const char *dir)
{
	struct control_manifests *s = calloc(1, sizeof(*s));
	if (s == NULL)
		return NULL;
	s->dir = strdup(dir);
	if (s->dir == NULL) {
		free(s);
		return NULL;
	}
	/* No trailing slash: the ancestor walk cuts at slashes. */
	for (size_t l = strlen(s->dir); l > 1 && s->dir[l - 1] == '/'; l--)
		s->dir[l - 1] = '\0';
	s->fd = -1;
	s->root_wd = -1;
	s->anc_wd = -1;
	return s;
}

static void mfile_release(struct mfile *f)
{
	free(f->path);
	json_decref(f->docs);
}

void control_manifests_free(struct control_manifests *s)
{
	if (s == NULL)
		return;
	for (size_t i = 0; i < s->n; i++)
		mfile_release(&s->files[i]);
	free(s->files);
	if (s->fd >= 0)
		close(s->fd);
	free(s->wds);
	free(s->dir);
	free(s);
}

/* ---- loading ---- */

struct load_state {
	struct control_manifests *s;
	struct mfile *files; /* the new array */
	size_t n, cap;
	struct control_errors *errs;
	bool oom;
};

static struct mfile *find_file(struct control_manifests *s, const char *path)
{
	for (size_t i = 0; i < s->n; i++)
		if (s->files[i].path && strcmp(s->files[i].path, path) == 0)
			return &s->files[i];
	return NULL;
}

static void load_file(void *arg, const char *path, const struct stat *st)
{
	struct load_state *l = arg;
	struct control_manifests *s = l->s;
	if (l->n == l->cap) {
		size_t cap = l->cap ? l->cap * 2 : 32;
		struct mfile *nf = realloc(l->files, cap * sizeof(*nf));
		if (nf == NULL) {
			l->oom = true;
			return;
		}
		l->files = nf;
		l->cap = cap;
	}
	bool complete;
	json_t *docs = control_parse_file(path, &complete, l->errs);
	struct mfile *old = find_file(s, path);
	struct mfile f = {.path = strdup(path), .docs = docs, .failing = !complete};
	if (f.path == NULL || docs == NULL) {
		free(f.path);
		json_decref(docs);
		l->oom = true;
		return;
	}
	if (!complete) {
		f.mtime = st->st_mtim;
		f.size = st->st_size;
		bool same = old && old->failing && old->size == f.size &&
			    old->mtime.tv_sec == f.mtime.tv_sec &&
			    old->mtime.tv_nsec == f.mtime.tv_nsec;
		if (!same)
			s->st.errors++;
		if (old && json_array_size(old->docs)) {
			/* Keep what it held: the last good version (or, for a file never good,
			 * the documents before its first error). */
			json_decref(f.docs);
			f.docs = json_incref(old->docs);
			control_errors_add(
				l->errs,
				"%s: keeping the %zu document(s) it held before until it "
				"parses again",
				path, json_array_size(f.docs));
		}
	}
	l->files[l->n++] = f;
}

int control_manifests_load(struct control_manifests *s, struct control_errors *errs)
{
	s->st.loads++;
	struct load_state l = {.s = s, .errs = errs};
	if (walk(s->dir, 0, load_file, &l, errs) < 0) {
		for (size_t i = 0; i < l.n; i++)
			mfile_release(&l.files[i]);
		free(l.files);
		s->st.present = false;
		size_t objs = 0;
		for (size_t i = 0; i < s->n; i++)
			objs += json_array_size(s->files[i].docs);
		char keep[96] = "";
		if (objs)
			snprintf(keep, sizeof(keep), "; keeping the %zu document(s) loaded before",
				 objs);
		if (s->anc_wd >= 0)
			control_errors_add(errs, "%s: watching %s for it to appear%s", s->dir,
					   s->anc, keep);
		else if (objs)
			control_errors_add(errs, "%s: directory gone%s", s->dir, keep);
		return -1;
	}
	if (l.oom)
		control_errors_add(errs, "%s: out of memory loading manifests; some files skipped",
				   s->dir);
	for (size_t i = 0; i < s->n; i++)
		mfile_release(&s->files[i]);
	free(s->files);
	s->files = l.files;
	s->n = l.n;
	s->st.present = true;
	s->st.files = (unsigned)l.n;
	s->st.files_failing = 0;
	for (size_t i = 0; i < l.n; i++)
		s->st.files_failing += l.files[i].failing;
	if (s->st.files == 0 || s->st.files_failing < s->st.files)
		s->st.ready = true;
	return 0;
}

int control_manifests_fill(const struct control_manifests *s, struct control_model *m,
			   struct control_errors *errs)
{
	int stored = 0;
	for (size_t i = 0; i < s->n; i++)
		stored += control_add_documents(m, s->files[i].docs, errs);
	return stored;
}

const struct control_manifests_stats *control_manifests_stats(const struct control_manifests *s)
{
	return &s->st;
}

/* ---- watching ---- */

#define TREE_EVENTS                                                                                \
	(IN_CLOSE_WRITE | IN_MOVED_TO | IN_MOVED_FROM | IN_CREATE | IN_DELETE | IN_DELETE_SELF |   \
	 IN_MOVE_SELF)
#define ANCESTOR_EVENTS (IN_CREATE | IN_MOVED_TO | IN_DELETE_SELF | IN_MOVE_SELF | IN_ONLYDIR)

static void add_wd(struct control_manifests *s, int wd)
{
	if (wd < 0)
		return;
	for (size_t i = 0; i < s->n_wds; i++)
		if (s->wds[i] == wd)
			return;
	if (s->n_wds == s->cap_wds) {
		size_t cap = s->cap_wds ? s->cap_wds * 2 : 16;
		int *nw = realloc(s->wds, cap * sizeof(*nw));
		if (nw == NULL)
			return;
		s->wds = nw;
		s->cap_wds = cap;
	}
	s->wds[s->n_wds++] = wd;
}

static bool is_tree_wd(const struct control_manifests *s, int wd)
{
	for (size_t i = 0; i < s->n_wds; i++)
		if (s->wds[i] == wd)
			return true;
	return false;
}

static bool is_dir(const char *path)
{
	struct stat st;
	return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

static void watch_tree(struct control_manifests *s, const char *dir, int depth)
{
	int wd = inotify_add_watch(s->fd, dir, TREE_EVENTS);
	if (depth == 0)
		s->root_wd = wd;
	add_wd(s, wd);
	if (depth >= MAX_DEPTH)
		return;
	DIR *dd = opendir(dir);
	if (dd == NULL)
		return;
	struct dirent *e;
	while ((e = readdir(dd)) != NULL) {
		/* Hidden folders are not manifests, but ..data (a mounted ConfigMap's current
		 * version) is where its files live. */
		if (e->d_name[0] == '.' && e->d_name[1] != '.' && e->d_name[1] != '\0')
			continue;
		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
			continue;
		char p[PATH_MAX];
		snprintf(p, sizeof(p), "%s/%s", dir, e->d_name);
		if (is_dir(p))
			watch_tree(s, p, depth + 1);
	}
	closedir(dd);
}

/* The nearest existing ancestor of s->dir into s->anc, and the awaited component into
 * s->child. False if no ancestor is a directory (a relative path's "." always is). */
static bool find_ancestor(struct control_manifests *s)
{
	char p[PATH_MAX];
	snprintf(p, sizeof(p), "%s", s->dir);
	for (;;) {
		char *slash = strrchr(p, '/');
		const char *child = slash ? slash + 1 : p;
		if (snprintf(s->child, sizeof(s->child), "%s", child) >= (int)sizeof(s->child))
			return false; /* not a name a folder can have */
		if (slash == NULL)
			snprintf(p, sizeof(p), ".");
		else if (slash == p)
			p[1] = '\0'; /* "/" */
		else
			*slash = '\0';
		if (is_dir(p)) {
			snprintf(s->anc, sizeof(s->anc), "%s", p);
			return true;
		}
		if (slash == NULL || strcmp(p, "/") == 0)
			return false;
	}
}

static void rewatch(struct control_manifests *s)
{
	for (size_t i = 0; i < s->n_wds; i++)
		inotify_rm_watch(s->fd, s->wds[i]);
	if (s->anc_wd >= 0)
		inotify_rm_watch(s->fd, s->anc_wd);
	s->n_wds = 0;
	s->root_wd = -1;
	s->anc_wd = -1;
	/* Bounded: each round finds a deeper ancestor, and a path has few components. */
	for (int round = 0; round < 64; round++) {
		if (is_dir(s->dir)) {
			watch_tree(s, s->dir, 0);
			return;
		}
		if (!find_ancestor(s))
			return;
		s->anc_wd = inotify_add_watch(s->fd, s->anc, ANCESTOR_EVENTS);
		char next[PATH_MAX];
		if (snprintf(next, sizeof(next), "%s/%s", s->anc, s->child) >= (int)sizeof(next) ||
		    !is_dir(next))
			return; /* the watch will tell us when it appears */
		/* It appeared between the look and the watch: look again, deeper. */
		inotify_rm_watch(s->fd, s->anc_wd);
		s->anc_wd = -1;
	}
}

int control_manifests_watch(struct control_manifests *s)
{
	if (s->fd < 0) {
		s->fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
		if (s->fd < 0)
			return -1;
	}
	rewatch(s);
	return s->fd;
}

bool control_manifests_drain(struct control_manifests *s)
{
	char buf[8192] __attribute__((aligned(__alignof__(struct inotify_event))));
	bool changed = false, structural = false;
	ssize_t len;
	while ((len = read(s->fd, buf, sizeof(buf))) > 0) {
		for (char *p = buf; p < buf + len;) {
			const struct inotify_event *ie = (const struct inotify_event *)p;
			p += sizeof(*ie) + ie->len;
			if (ie->mask & IN_Q_OVERFLOW) {
				structural = true; /* events were lost: start over */
			} else if (s->anc_wd >= 0 && ie->wd == s->anc_wd) {
				if ((ie->mask & (IN_DELETE_SELF | IN_MOVE_SELF | IN_IGNORED)) ||
				    (ie->len && strcmp(ie->name, s->child) == 0))
					structural = true;
			} else if (is_tree_wd(s, ie->wd)) {
				if (ie->mask & IN_IGNORED) {
					/* A folder's watch went with the folder; the directory's
					 * own going means watching its ancestor. */
					structural |= ie->wd == s->root_wd;
					continue;
				}
				changed = true;
				if ((ie->mask & IN_ISDIR) && (ie->mask & (IN_CREATE | IN_MOVED_TO)))
					structural = true; /* a new folder to watch */
				if (ie->wd == s->root_wd &&
				    (ie->mask & (IN_DELETE_SELF | IN_MOVE_SELF)))
					structural = true;
			}
			/* Anything else is from a watch already dropped. */
		}
	}
	if (structural)
		rewatch(s);
	return changed || structural;
}
