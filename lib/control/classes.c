/*
 * classes.c: which Ingresses are ours, and in which order they take precedence.
 *
 * Class selection (networking.k8s.io/v1, plus what controllers still honour):
 *   1. spec.ingressClassName names an IngressClass: ours if that class's spec.controller is
 *      ours; if no such IngressClass object exists, ours if the name is our class name.
 *   2. else the legacy annotation kubernetes.io/ingress.class: ours if it is our class name.
 *   3. else ours if one of our IngressClasses carries
 *      ingressclass.kubernetes.io/is-default-class: "true".
 *
 * Precedence: oldest creationTimestamp, then namespace, then name — the order in which the
 * route compile (compile.c) and the certificate compile (certs.c) add what an Ingress claims,
 * so the oldest wins every conflict. The IngressClasses are collected once per call.
 */
#include "control/control-int.h"

#include <stdlib.h>
#include <string.h>

/* The model's IngressClasses, gathered once per compile. */
struct classes {
	json_t **v;
	size_t n;
};

static void classes_collect(const struct control_model *m, struct classes *c)
{
	c->n = 0;
	c->v = calloc(control_object_count(m) + 1, sizeof(*c->v));
	for (size_t i = 0; c->v && i < control_object_count(m); i++)
		if (strcmp(control__kind(m, i), "IngressClass") == 0)
			c->v[c->n++] = control_object_at(m, i);
}

static bool is_ours(const struct classes *cl, const struct control_class *c, json_t *ing)
{
	const char *cls = control__str(json_object_get(ing, "spec"), "ingressClassName");
	if (cls) {
		for (size_t i = 0; i < cl->n; i++) {
			const char *n = control__meta(cl->v[i], "name");
			if (n && strcmp(n, cls) == 0) {
				const char *ctl = control__str(json_object_get(cl->v[i], "spec"),
							       "controller");
				return ctl && strcmp(ctl, c->controller) == 0;
			}
		}
		return strcmp(cls, c->name) == 0;
	}
	const char *legacy = control__annotation(ing, "kubernetes.io/ingress.class");
	if (legacy)
		return strcmp(legacy, c->name) == 0;
	for (size_t i = 0; i < cl->n; i++) {
		const char *ctl = control__str(json_object_get(cl->v[i], "spec"), "controller");
		const char *def = control__annotation(
			cl->v[i], "ingressclass.kubernetes.io/is-default-class");
		if (ctl && strcmp(ctl, c->controller) == 0 && def && strcmp(def, "true") == 0)
			return true;
	}
	return false;
}

bool control_ingress_is_ours(const struct control_model *m, const struct control_class *c,
			     json_t *ing)
{
	struct classes cl;
	classes_collect(m, &cl);
	bool r = is_ours(&cl, c, ing);
	free(cl.v);
	return r;
}

struct ing_key {
	json_t *j;
	const char *ts;
	const char *ns;
	const char *name;
};

static int cmp_ing(const void *a, const void *b)
{
	const struct ing_key *x = a, *y = b;
	int c = strcmp(x->ts, y->ts);
	if (c)
		return c;
	c = strcmp(x->ns, y->ns);
	return c ? c : strcmp(x->name, y->name);
}

json_t **control_ingresses_of_class(const struct control_model *m, const struct control_class *c,
				    size_t *n_out)
{
	struct classes cl;
	classes_collect(m, &cl);
	struct ing_key *ings = calloc(control_object_count(m) + 1, sizeof(*ings));
	json_t **out = NULL;
	size_t n = 0;
	for (size_t i = 0; ings && i < control_object_count(m); i++) {
		if (strcmp(control__kind(m, i), "Ingress") != 0)
			continue;
		json_t *j = control_object_at(m, i);
		if (!is_ours(&cl, c, j))
			continue;
		const char *ts = control__meta(j, "creationTimestamp");
		ings[n++] =
			(struct ing_key){j, ts ? ts : "", control__ns(j), control__meta(j, "name")};
	}
	if (ings)
		qsort(ings, n, sizeof(*ings), cmp_ing);
	out = calloc(n + 1, sizeof(*out));
	for (size_t i = 0; out && i < n; i++)
		out[i] = ings[i].j;
	*n_out = out ? n : 0;
	free(ings);
	free(cl.v);
	return out;
}
