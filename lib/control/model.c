/*
 * model.c: the object store and the manifest parsers (the directory walk is in sources.c).
 *
 * Objects are kept in one array sorted by nothing in particular; the compile step sorts what it
 * needs. Sizes here are what a cluster has (thousands of objects), handled on the management
 * lcore, so clarity wins over cleverness: an upsert is a linear scan per kind.
 *
 * YAML is converted node by node into jansson values. Plain scalars are typed as YAML 1.2's
 * core schema says (null, booleans, integers, floats); quoted scalars stay strings — exactly
 * what kubectl does, so `port: "80"` stays a string and is refused where a number is needed.
 */
#include "control/control-int.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <yaml.h>

/* ---- errors ------------------------------------------------------------------------------- */

void control_errors_add(struct control_errors *e, const char *fmt, ...)
{
	if (e == NULL)
		return;
	if (e->n == e->cap) {
		size_t cap = e->cap ? e->cap * 2 : 16;
		char **nm = realloc(e->msgs, cap * sizeof(*nm));
		if (nm == NULL)
			return;
		e->msgs = nm;
		e->cap = cap;
	}
	va_list ap;
	va_start(ap, fmt);
	char *msg = NULL;
	if (vasprintf(&msg, fmt, ap) >= 0)
		e->msgs[e->n++] = msg;
	va_end(ap);
}

void control_errors_free(struct control_errors *e)
{
	for (size_t i = 0; i < e->n; i++)
		free(e->msgs[i]);
	free(e->msgs);
	memset(e, 0, sizeof(*e));
}

void control_errors_print(const struct control_errors *e, FILE *out, const char *prefix)
{
	for (size_t i = 0; i < e->n; i++)
		fprintf(out, "%s%s\n", prefix, e->msgs[i]);
}

/* ---- the store ---------------------------------------------------------------------------- */

struct object {
	char kind[32];
	char *ns;
	char *name;
	json_t *json;
};

struct control_model {
	struct object *objs;
	size_t n, cap;
	json_t *by_key; /* "kind/namespace/name" → index in objs (a hash table) */
};

static void object_key(char *buf, size_t len, const char *kind, const char *ns, const char *name)
{
	snprintf(buf, len, "%s/%s/%s", kind, ns, name);
}

/* Internal accessor for compile.c (public ones: control_object_count, control_object_at). */

const char *control__kind(const struct control_model *m, size_t i)
{
	return m->objs[i].kind;
}

struct control_model *control_model_new(void)
{
	struct control_model *m = calloc(1, sizeof(struct control_model));
	if (m && (m->by_key = json_object()) == NULL) {
		free(m);
		return NULL;
	}
	return m;
}

void control_model_free(struct control_model *m)
{
	if (m == NULL)
		return;
	for (size_t i = 0; i < m->n; i++) {
		free(m->objs[i].ns);
		free(m->objs[i].name);
		json_decref(m->objs[i].json);
	}
	free(m->objs);
	json_decref(m->by_key);
	free(m);
}

size_t control_object_count(const struct control_model *m)
{
	return m->n;
}

json_t *control_object_at(const struct control_model *m, size_t i)
{
	return i < m->n ? m->objs[i].json : NULL;
}

json_t *control_find_object(const struct control_model *m, const char *kind, const char *ns,
			    const char *name)
{
	char key[768];
	object_key(key, sizeof(key), kind, ns, name);
	json_t *at = json_object_get(m->by_key, key);
	return at ? m->objs[json_integer_value(at)].json : NULL;
}

static const char *const kinds[][2] = {
	{"Ingress", "networking.k8s.io/v1"},
	{"IngressClass", "networking.k8s.io/v1"},
	{"Service", "v1"},
	{"EndpointSlice", "discovery.k8s.io/v1"},
	{"Secret", "v1"},
};

/* A Secret is kept only if it is of type kubernetes.io/tls, and only its name, type and the
 * two fields a certificate needs: other Secrets (tokens, passwords) never enter the model. */
static json_t *tls_secret_only(json_t *obj)
{
	const char *type = json_string_value(json_object_get(obj, "type"));
	if (type == NULL || strcmp(type, "kubernetes.io/tls") != 0)
		return NULL;
	json_t *meta = json_object_get(obj, "metadata");
	json_t *out =
		json_pack("{s:s,s:s,s:s,s:{s:O*,s:O*,s:O*,s:O*}}", "apiVersion", "v1", "kind",
			  "Secret", "type", type, "metadata", "name", json_object_get(meta, "name"),
			  "namespace", json_object_get(meta, "namespace"), "resourceVersion",
			  json_object_get(meta, "resourceVersion"), "creationTimestamp",
			  json_object_get(meta, "creationTimestamp"));
	if (out == NULL)
		return NULL;
	const char *fields[2] = {"data", "stringData"};
	for (int f = 0; f < 2; f++) {
		json_t *d = json_object_get(obj, fields[f]);
		if (!json_is_object(d))
			continue;
		json_t *keep = json_object();
		json_t *crt = json_object_get(d, "tls.crt"), *key = json_object_get(d, "tls.key");
		if (crt)
			json_object_set(keep, "tls.crt", crt);
		if (key)
			json_object_set(keep, "tls.key", key);
		json_object_set_new(out, fields[f], keep);
	}
	return out;
}

int control_add_object(struct control_model *m, json_t *obj, const char *where,
		       struct control_errors *errs)
{
	if (!json_is_object(obj)) {
		control_errors_add(errs,
				   "%s: expected an object with apiVersion, kind, metadata; "
				   "skipped",
				   where);
		return -1;
	}
	const char *kind = json_string_value(json_object_get(obj, "kind"));
	const char *api = json_string_value(json_object_get(obj, "apiVersion"));
	if (kind == NULL) {
		control_errors_add(errs, "%s: kind: missing or not a string; skipped", where);
		return -1;
	}
	int known = -1;
	for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++)
		if (strcmp(kind, kinds[i][0]) == 0)
			known = (int)i;
	if (known < 0)
		return 0; /* other kinds (Deployment, ConfigMap...) live in the same files */
	json_t *slim = NULL;
	if (strcmp(kind, "Secret") == 0 && (api == NULL || strcmp(api, "v1") == 0)) {
		slim = tls_secret_only(obj);
		if (slim == NULL) {
			/* Not a TLS Secret (any more): not kept. */
			const char *sn = json_string_value(
				json_object_get(json_object_get(obj, "metadata"), "name"));
			const char *sns = json_string_value(
				json_object_get(json_object_get(obj, "metadata"), "namespace"));
			if (sn)
				control_delete_object(m, "Secret", sns && sns[0] ? sns : "default",
						      sn);
			return 0;
		}
		obj = slim;
	}
	if (api == NULL || strcmp(api, kinds[known][1]) != 0) {
		control_errors_add(errs,
				   "%s: %s: apiVersion \"%s\" is not supported; use %s; skipped",
				   where, kind, api ? api : "", kinds[known][1]);
		return -1;
	}
	json_t *meta = json_object_get(obj, "metadata");
	const char *name = json_string_value(json_object_get(meta, "name"));
	if (!json_is_object(meta) || name == NULL || name[0] == '\0') {
		control_errors_add(errs, "%s: %s: metadata.name: missing; skipped", where, kind);
		json_decref(slim);
		return -1;
	}
	const char *ns = json_string_value(json_object_get(meta, "namespace"));
	if (ns == NULL || ns[0] == '\0')
		ns = strcmp(kind, "IngressClass") == 0 ? "" : "default"; /* cluster-scoped */

	char key[768];
	object_key(key, sizeof(key), kind, ns, name);
	json_t *at = json_object_get(m->by_key, key);
	if (at) {
		struct object *o = &m->objs[json_integer_value(at)];
		json_incref(obj);
		json_decref(o->json);
		o->json = obj;
		json_decref(slim);
		return 1;
	}
	if (m->n == m->cap) {
		size_t cap = m->cap ? m->cap * 2 : 64;
		struct object *no = realloc(m->objs, cap * sizeof(*no));
		if (no == NULL) {
			json_decref(slim);
			return -1;
		}
		m->objs = no;
		m->cap = cap;
	}
	struct object *o = &m->objs[m->n++];
	snprintf(o->kind, sizeof(o->kind), "%s", kind);
	o->ns = strdup(ns);
	o->name = strdup(name);
	json_incref(obj);
	o->json = obj;
	json_object_set_new(m->by_key, key, json_integer((json_int_t)(m->n - 1)));
	json_decref(slim);
	return 1;
}

int control_delete_object(struct control_model *m, const char *kind, const char *ns,
			  const char *name)
{
	char key[768];
	object_key(key, sizeof(key), kind, ns, name);
	json_t *at = json_object_get(m->by_key, key);
	if (at == NULL)
		return 0;
	size_t i = (size_t)json_integer_value(at);
	struct object *o = &m->objs[i];
	free(o->ns);
	free(o->name);
	json_decref(o->json);
	json_object_del(m->by_key, key);
	if (i != m->n - 1) {
		/* The last object moves into the hole: re-point its index entry. */
		m->objs[i] = m->objs[m->n - 1];
		object_key(key, sizeof(key), m->objs[i].kind, m->objs[i].ns, m->objs[i].name);
		json_object_set_new(m->by_key, key, json_integer((json_int_t)i));
	}
	m->n--;
	return 1;
}

/* Add a document: a List is unpacked item by item. */
static int add_document(struct control_model *m, json_t *doc, const char *where,
			struct control_errors *errs)
{
	if (json_is_null(doc))
		return 0; /* an empty YAML document (a trailing ---) */
	const char *kind = json_string_value(json_object_get(doc, "kind"));
	if (kind && strcmp(kind, "List") == 0) {
		json_t *items = json_object_get(doc, "items");
		if (!json_is_array(items)) {
			control_errors_add(errs, "%s: List: items: expected an array; skipped",
					   where);
			return 0;
		}
		int stored = 0;
		size_t i;
		json_t *it;
		json_array_foreach(items, i, it)
		{
			char w[512];
			snprintf(w, sizeof(w), "%s items[%zu]", where, i);
			stored += control_add_object(m, it, w, errs) > 0;
		}
		return stored;
	}
	return control_add_object(m, doc, where, errs) > 0;
}

/* ---- YAML → JSON -------------------------------------------------------------------------- */

static json_t *scalar_to_json(const yaml_node_t *n)
{
	const char *v = (const char *)n->data.scalar.value;
	size_t len = n->data.scalar.length;
	if (n->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
		return json_stringn(v, len);
	if (len == 0 || strcmp(v, "~") == 0 || strcmp(v, "null") == 0 || strcmp(v, "Null") == 0 ||
	    strcmp(v, "NULL") == 0)
		return json_null();
	if (strcmp(v, "true") == 0 || strcmp(v, "True") == 0 || strcmp(v, "TRUE") == 0)
		return json_true();
	if (strcmp(v, "false") == 0 || strcmp(v, "False") == 0 || strcmp(v, "FALSE") == 0)
		return json_false();
	char *end;
	errno = 0;
	long long i = strtoll(v, &end, 10);
	if (*end == '\0' && errno == 0 &&
	    (v[0] == '-' || v[0] == '+' || (v[0] >= '0' && v[0] <= '9')))
		return json_integer(i);
	errno = 0;
	double d = strtod(v, &end);
	if (*end == '\0' && errno == 0 &&
	    ((v[0] >= '0' && v[0] <= '9') || v[0] == '-' || v[0] == '.'))
		return json_real(d);
	return json_stringn(v, len);
}

static json_t *node_to_json(yaml_document_t *doc, yaml_node_t *n, int depth)
{
	if (n == NULL || depth > 64)
		return NULL;
	switch (n->type) {
	case YAML_SCALAR_NODE:
		return scalar_to_json(n);
	case YAML_SEQUENCE_NODE: {
		json_t *a = json_array();
		for (yaml_node_item_t *it = n->data.sequence.items.start;
		     it < n->data.sequence.items.top; it++) {
			json_t *v = node_to_json(doc, yaml_document_get_node(doc, *it), depth + 1);
			if (v == NULL) {
				json_decref(a);
				return NULL;
			}
			json_array_append_new(a, v);
		}
		return a;
	}
	case YAML_MAPPING_NODE: {
		json_t *o = json_object();
		for (yaml_node_pair_t *p = n->data.mapping.pairs.start;
		     p < n->data.mapping.pairs.top; p++) {
			yaml_node_t *k = yaml_document_get_node(doc, p->key);
			if (k == NULL || k->type != YAML_SCALAR_NODE) {
				json_decref(o);
				return NULL;
			}
			json_t *v =
				node_to_json(doc, yaml_document_get_node(doc, p->value), depth + 1);
			if (v == NULL) {
				json_decref(o);
				return NULL;
			}
			json_object_setn_new(o, (const char *)k->data.scalar.value,
					     k->data.scalar.length, v);
		}
		return o;
	}
	default:
		return NULL;
	}
}

/* One parsed document and where it came from, appended to docs. */
static void push_document(json_t *docs, json_t *doc, const char *where)
{
	json_array_append_new(docs, json_pack("{s:s,s:O}", "where", where, "doc", doc));
}

/* Every document of a YAML stream; false when a syntax error ended it early. */
static bool parse_yaml(json_t *docs, const char *path, FILE *f, struct control_errors *errs)
{
	yaml_parser_t parser;
	if (!yaml_parser_initialize(&parser)) {
		control_errors_add(errs, "%s: out of memory parsing YAML; file skipped", path);
		return false;
	}
	yaml_parser_set_input_file(&parser, f);
	bool complete = true;
	for (int index = 1;; index++) {
		yaml_document_t doc;
		if (!yaml_parser_load(&parser, &doc)) {
			/* A syntax error ends the stream: libyaml cannot resynchronise. */
			control_errors_add(errs,
					   "%s:%zu: document %d: YAML syntax: %s; this and later "
					   "documents in the file skipped",
					   path, parser.problem_mark.line + 1, index,
					   parser.problem ? parser.problem : "error");
			complete = false;
			break;
		}
		yaml_node_t *root = yaml_document_get_root_node(&doc);
		if (root == NULL) {
			yaml_document_delete(&doc);
			break; /* end of stream */
		}
		json_t *j = node_to_json(&doc, root, 0);
		char where[512];
		snprintf(where, sizeof(where), "%s:%zu: document %d", path,
			 root->start_mark.line + 1, index);
		if (j == NULL)
			control_errors_add(errs,
					   "%s: unsupported YAML (complex keys or too deep); "
					   "skipped",
					   where);
		else
			push_document(docs, j, where);
		json_decref(j);
		yaml_document_delete(&doc);
	}
	yaml_parser_delete(&parser);
	return complete;
}

json_t *control_yaml_load_first(const char *path, char *err, size_t errlen)
{
	FILE *f = fopen(path, "rb");
	if (f == NULL) {
		snprintf(err, errlen, "%s: cannot read: %s", path, strerror(errno));
		return NULL;
	}
	yaml_parser_t parser;
	json_t *j = NULL;
	if (!yaml_parser_initialize(&parser)) {
		fclose(f);
		snprintf(err, errlen, "%s: out of memory", path);
		return NULL;
	}
	yaml_parser_set_input_file(&parser, f);
	yaml_document_t doc;
	if (!yaml_parser_load(&parser, &doc)) {
		snprintf(err, errlen, "%s:%zu: YAML syntax: %s", path, parser.problem_mark.line + 1,
			 parser.problem ? parser.problem : "error");
	} else {
		yaml_node_t *root = yaml_document_get_root_node(&doc);
		j = root ? node_to_json(&doc, root, 0) : NULL;
		if (j == NULL)
			snprintf(err, errlen, "%s: empty or unsupported YAML", path);
		yaml_document_delete(&doc);
	}
	yaml_parser_delete(&parser);
	fclose(f);
	return j;
}

static bool ends_with(const char *s, const char *suffix)
{
	size_t n = strlen(s), k = strlen(suffix);
	return n >= k && strcmp(s + n - k, suffix) == 0;
}

json_t *control_parse_file(const char *path, bool *complete, struct control_errors *errs)
{
	json_t *docs = json_array();
	*complete = false;
	if (docs == NULL)
		return NULL;
	FILE *f = fopen(path, "rb");
	if (f == NULL) {
		control_errors_add(errs, "%s: cannot read: %s", path, strerror(errno));
		return docs;
	}
	if (ends_with(path, ".json")) {
		json_error_t je;
		json_t *j = json_loadf(f, 0, &je);
		if (j == NULL) {
			control_errors_add(errs, "%s:%d: JSON syntax: %s; file skipped", path,
					   je.line, je.text);
		} else {
			char where[512];
			snprintf(where, sizeof(where), "%s: document 1", path);
			push_document(docs, j, where);
			json_decref(j);
			*complete = true;
		}
	} else {
		*complete = parse_yaml(docs, path, f, errs);
	}
	fclose(f);
	return docs;
}

int control_add_documents(struct control_model *m, json_t *docs, struct control_errors *errs)
{
	int stored = 0;
	size_t i;
	json_t *d;
	json_array_foreach(docs, i, d)
	{
		stored += add_document(m, json_object_get(d, "doc"),
				       json_string_value(json_object_get(d, "where")), errs);
	}
	return stored;
}

int control_load_file(struct control_model *m, const char *path, struct control_errors *errs)
{
	bool complete;
	json_t *docs = control_parse_file(path, &complete, errs);
	int stored = docs ? control_add_documents(m, docs, errs) : 0;
	json_decref(docs);
	return stored;
}

int control_add_static_route(struct control_model *m, unsigned index, const char *class_name,
			     const char *host, const char *path, const char *path_type,
			     const uint32_t *addrs, const uint16_t *ports, unsigned n,
			     struct control_errors *errs)
{
	char name[32], where[64];
	snprintf(name, sizeof(name), "route-%u", index);
	snprintf(where, sizeof(where), "configuration static_routes.[%u]", index);
	/* One Service port per distinct endpoint port is not needed: the slice carries the
	 * target port, so the Service port exists only to be named by the Ingress. */
	json_t *eps = json_array();
	for (unsigned i = 0; i < n; i++) {
		char a[INET_ADDRSTRLEN];
		struct in_addr ia = {.s_addr = addrs[i]};
		inet_ntop(AF_INET, &ia, a, sizeof(a));
		json_array_append_new(eps, json_pack("{s:[s]}", "addresses", a));
	}
	int rc = 0;
	/* Endpoints may use different ports: one slice per port. */
	json_t *svc = json_pack("{s:s,s:s,s:{s:s,s:s},s:{s:[{s:s,s:i}]}}", "apiVersion", "v1",
				"kind", "Service", "metadata", "name", name, "namespace",
				"sluice-static", "spec", "ports", "name", "http", "port", 80);
	rc |= control_add_object(m, svc, where, errs) < 0;
	json_decref(svc);
	for (unsigned i = 0; i < n; i++) {
		char sn[48], a[INET_ADDRSTRLEN];
		struct in_addr ia = {.s_addr = addrs[i]};
		inet_ntop(AF_INET, &ia, a, sizeof(a));
		snprintf(sn, sizeof(sn), "%s-%u", name, i);
		json_t *sl = json_pack(
			"{s:s,s:s,s:{s:s,s:s,s:{s:s}},s:s,s:[{s:s,s:i}],s:[{s:[s]}]}", "apiVersion",
			"discovery.k8s.io/v1", "kind", "EndpointSlice", "metadata", "name", sn,
			"namespace", "sluice-static", "labels", "kubernetes.io/service-name", name,
			"addressType", "IPv4", "ports", "name", "http", "port", (int)ports[i],
			"endpoints", "addresses", a);
		rc |= control_add_object(m, sl, where, errs) < 0;
		json_decref(sl);
	}
	json_decref(eps);
	json_t *rule = host && host[0] ? json_pack("{s:s}", "host", host) : json_object();
	json_object_set_new(rule, "http",
			    json_pack("{s:[{s:s,s:s,s:{s:{s:s,s:{s:s}}}}]}", "paths", "path", path,
				      "pathType", path_type, "backend", "service", "name", name,
				      "port", "name", "http"));
	json_t *ing =
		json_pack("{s:s,s:s,s:{s:s,s:s,s:s},s:{s:s,s:[o]}}", "apiVersion",
			  "networking.k8s.io/v1", "kind", "Ingress", "metadata", "name", name,
			  "namespace", "sluice-static", "creationTimestamp", "0000-00-00T00:00:00Z",
			  "spec", "ingressClassName", class_name, "rules", rule);
	rc |= control_add_object(m, ing, where, errs) < 0;
	json_decref(ing);
	return rc ? -1 : 0;
}
