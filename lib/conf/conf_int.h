/*
 * conf_int.h: what the pieces of lib/conf share; not part of the public API.
 *
 * schema.c holds the table (one row per field: path, type, range or allowed values, default,
 * destination), load.c the one generic reader that walks a libconfig tree against that table,
 * checks.c the rules no single row can state (cross-field relations and a few value checks).
 * Everything here carries the conf_ prefix because the static library exports it to its
 * sibling files; nothing outside lib/conf (and its unit test) includes this header.
 */
#ifndef SLUICE_CONF_INT_H
#define SLUICE_CONF_INT_H

#include <libconfig.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "conf/conf.h"

/* Where problems go: appended to a caller's buffer, counted even when the buffer is full. */
struct conf_reader {
	char *err;
	size_t errlen;
	size_t used;
	int problems;
	const char *top_file; /* fallback when a setting has no file (string input) */
};

/* One problem as "FILE:LINE: PATH: message"; `at` gives file and line (NULL: top file, 0). */
void conf_report(struct conf_reader *r, const config_setting_t *at, const char *path,
		 const char *fmt, ...) __attribute__((format(printf, 4, 5)));

/* How a field is written in the file and how its value is stored. */
enum conf_type {
	CONF_T_GROUP,	 /* { ... }: its fields are the rows whose path extends this one */
	CONF_T_LIST,	 /* ( { ... }, ... ): each group fills one record of an array */
	CONF_T_INT,	 /* integer in [min, max], stored unsigned in `size` bytes */
	CONF_T_BOOL,	 /* true / false, stored as bool */
	CONF_T_STRING,	 /* stored in a char[size] */
	CONF_T_ARG,	 /* string stored as a malloc'd char * (freed by conf_release) */
	CONF_T_ENUM,	 /* one of names[], stored as its value in `size` bytes */
	CONF_T_WORD,	 /* one of names[], stored as the text in a char[size] */
	CONF_T_FLAG,	 /* one of names[], its value OR'ed into a uint32_t (arrays of flags) */
	CONF_T_IPV4,	 /* "198.18.0.1", stored as a uint32_t in network order */
	CONF_T_PREFIX,	 /* "198.18.0.0/24", stored as a struct conf_prefix */
	CONF_T_HOSTPORT, /* "ADDRESS:PORT": address (uint32_t) at off, port (uint16_t) at aux */
	CONF_T_HEX,	 /* hex digit pairs: bytes at off (at most size), count (uint8_t) at aux */
};

/* The struct a row's offsets are relative to: the top-level conf or one list record. */
enum conf_record {
	CONF_REC_TOP,	       /* struct sluice_conf */
	CONF_REC_PORT,	       /* struct conf_port (its profile included) */
	CONF_REC_ROUTE,	       /* struct conf_route */
	CONF_REC_STATIC_ROUTE, /* struct conf_static_route */
};

/* An allowed word and what it stands for (an enum value or a flag bit). */
struct conf_name {
	const char *name;
	uint32_t value;
};

/*
 * A field's own rule, beyond type and range: runs on each value after the file's type was
 * checked and before it is parsed and stored, with the record being filled (to compare with
 * fields read before it). Returns false when it reported a problem; the value is then not stored.
 */
typedef bool (*conf_check_fn)(struct conf_reader *r, const config_setting_t *s, const char *path,
			      const void *rec);

/* Optional offsets are stored plus one so that 0 means "none". */
#define CONF_OPT_NONE 0

struct conf_field {
	const char *path; /* dotted, without list indexes: "ports.profile.rx_desc" */
	enum conf_type type;
	enum conf_record rec; /* what off/aux/count are relative to */
	bool required;
	bool array;	     /* [ v, ... ] of `type` (a CONF_T_LIST is always a sequence) */
	uint16_t nmin, nmax; /* entries, for arrays and lists */
	long long min, max;  /* CONF_T_INT range (of each entry, for arrays) */
	size_t off;	     /* destination; of entry 0 for arrays and lists */
	size_t size;	     /* destination size; of one entry for arrays, one record for lists */
	size_t aux;	     /* second destination (+1): port, key length, group-present flag */
	size_t count;	     /* uint16_t entry count of an array or list (+1) */
	size_t src_file;     /* CONF_T_LIST: char[CONF_STR_LEN] for where a record began (+1) */
	size_t src_line;     /* ... and its int line (+1) */
	enum conf_record of; /* CONF_T_LIST: the record kind of its entries */
	const struct conf_name *names; /* ENUM, WORD, FLAG: the allowed words, NULL-terminated */
	const char *def;	       /* default, as the value's text ("1024", "true", "info");
					* for an array, its single entry. NULL: zero/empty */
	const char *example;	       /* a valid value's text, for messages and generated files */
	conf_check_fn check;
};

extern const struct conf_field conf_fields[];
extern const size_t conf_n_fields;

/* The row for a dotted path, or NULL. */
const struct conf_field *conf_field_find(const char *path);
/* Is f a direct field of the group or list whose path is key ("" = the top level)? */
bool conf_field_is_child(const struct conf_field *f, const char *key);
/* The last component of f's path. */
const char *conf_field_name(const struct conf_field *f);
/* "a, b, c" (last_sep NULL) or "a, b or c" (last_sep " or "): the names of a word list. */
void conf_names_list(const struct conf_name *names, const char *last_sep, char *out, size_t len);

/* Store each default of the rows whose record is `kind` into rec (a zeroed record), through the
 * same path as a file's values. Problems (a broken default) go to r, or nowhere when r is NULL;
 * returns their number. */
int conf_apply_defaults(enum conf_record kind, void *rec, struct conf_reader *r);

/*
 * Table invariants a typo in schema.c would break (a default that does not parse, a range that
 * does not fit its destination, a field whose parent is missing). Returns the number of broken
 * rows, each described in err. For the unit test.
 */
int conf_schema_selfcheck(char *err, size_t len);

/* Field checks, referenced from the table (checks.c). */
bool conf_check_eal_arg(struct conf_reader *r, const config_setting_t *s, const char *path,
			const void *rec);
bool conf_check_worker(struct conf_reader *r, const config_setting_t *s, const char *path,
		       const void *rec);
bool conf_check_port_name(struct conf_reader *r, const config_setting_t *s, const char *path,
			  const void *rec);
bool conf_check_devargs(struct conf_reader *r, const config_setting_t *s, const char *path,
			const void *rec);
bool conf_check_steering(struct conf_reader *r, const config_setting_t *s, const char *path,
			 const void *rec);
bool conf_check_rss_key(struct conf_reader *r, const config_setting_t *s, const char *path,
			const void *rec);
bool conf_check_rx_offload(struct conf_reader *r, const config_setting_t *s, const char *path,
			   const void *rec);
bool conf_check_tx_offload(struct conf_reader *r, const config_setting_t *s, const char *path,
			   const void *rec);
bool conf_check_status_address(struct conf_reader *r, const config_setting_t *s, const char *path,
			       const void *rec);
bool conf_check_url_path(struct conf_reader *r, const config_setting_t *s, const char *path,
			 const void *rec);
bool conf_check_backend(struct conf_reader *r, const config_setting_t *s, const char *path,
			const void *rec);
bool conf_check_secret_ref(struct conf_reader *r, const config_setting_t *s, const char *path,
			   const void *rec);

/* The word lists the table and the checks share. */
extern const struct conf_name conf_rx_offload_names[];
extern const struct conf_name conf_tx_offload_names[];

/* Rules across fields, run once the whole file was read and relative paths resolved. */
void conf_check_relations(struct conf_reader *r, const config_t *cfg, const struct sluice_conf *c);

#endif
