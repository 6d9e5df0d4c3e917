/*
 * control-int.h: what the files of lib/control share — reading fields of the model's JSON
 * objects. Private to the module.
 */
#ifndef SLUICE_CONTROL_INT_H
#define SLUICE_CONTROL_INT_H

#include "control/control.h"

/* The kind of the model's object i (model.c). */
const char *control__kind(const struct control_model *m, size_t i);

static inline const char *control__str(json_t *o, const char *key)
{
	return json_string_value(json_object_get(o, key));
}

static inline const char *control__meta(json_t *obj, const char *key)
{
	return control__str(json_object_get(obj, "metadata"), key);
}

/* An object's namespace: "default" when it names none. */
static inline const char *control__ns(json_t *obj)
{
	const char *ns = control__meta(obj, "namespace");
	return ns && ns[0] ? ns : "default";
}

static inline const char *control__annotation(json_t *obj, const char *key)
{
	return control__str(json_object_get(json_object_get(obj, "metadata"), "annotations"), key);
}

#endif
