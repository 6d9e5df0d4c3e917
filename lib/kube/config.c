/*
 * config.c: where the API server is and how to prove who we are.
 *
 * A kubeconfig names contexts; a context pairs a cluster (server, CA) with a user (token,
 * token file, client certificate). We support what a controller deployment uses: bearer tokens
 * and client certificates, CA by file or inline data, insecure-skip-tls-verify. Credential
 * plugins (exec, auth-provider) are refused with a clear message: they run programs, which a
 * gateway's management lcore should not do behind the operator's back.
 */
#include "kube/kube.h"
#include "kube/sync-int.h" /* kube__token's prototype */

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

static int fail(char *err, size_t len, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int fail(char *err, size_t len, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(err, len, fmt, ap);
	va_end(ap);
	return -1;
}

void kube_config_release(struct kube_client_config *c)
{
	free(c->server);
	free(c->ca_file);
	free(c->ca_data);
	free(c->token);
	free(c->token_file);
	free(c->cert_file);
	free(c->key_file);
	free(c->cert_data);
	free(c->key_data);
	free(c->source);
	memset(c, 0, sizeof(*c));
}

/* Standard base64 (with or without padding, whitespace ignored). Returns a NUL-terminated
 * buffer and its length, or NULL on a bad character. */
static char *base64_decode(const char *in, size_t *out_len)
{
	size_t n = strlen(in);
	char *out = malloc(n / 4 * 3 + 4);
	if (out == NULL)
		return NULL;
	uint32_t acc = 0;
	int bits = 0;
	size_t o = 0;
	for (size_t i = 0; i < n; i++) {
		unsigned char ch = (unsigned char)in[i];
		int v;
		if (ch >= 'A' && ch <= 'Z')
			v = ch - 'A';
		else if (ch >= 'a' && ch <= 'z')
			v = ch - 'a' + 26;
		else if (ch >= '0' && ch <= '9')
			v = ch - '0' + 52;
		else if (ch == '+' || ch == '-')
			v = 62;
		else if (ch == '/' || ch == '_')
			v = 63;
		else if (ch == '=' || ch == ' ' || ch == '\n' || ch == '\r' || ch == '\t')
			continue;
		else {
			free(out);
			return NULL;
		}
		acc = (acc << 6) | (uint32_t)v;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			out[o++] = (char)((acc >> bits) & 0xff);
		}
	}
	out[o] = '\0';
	*out_len = o;
	return out;
}

/* A file name from the kubeconfig, made absolute against the kubeconfig's folder. */
static char *resolve(const char *base_dir, const char *name)
{
	char *r = NULL;
	if (name[0] == '/' || base_dir[0] == '\0')
		return strdup(name);
	if (asprintf(&r, "%s/%s", base_dir, name) < 0)
		return NULL;
	return r;
}

static json_t *named(json_t *list, const char *name)
{
	size_t i;
	json_t *it;
	json_array_foreach(list, i, it)
	{
		const char *n = json_string_value(json_object_get(it, "name"));
		if (n && strcmp(n, name) == 0)
			return it;
	}
	return NULL;
}

static const char *str(json_t *o, const char *k)
{
	const char *v = json_string_value(json_object_get(o, k));
	return v && v[0] ? v : NULL;
}

static char *read_trimmed(const char *path, char *err, size_t errlen)
{
	FILE *f = fopen(path, "rb");
	if (f == NULL) {
		fail(err, errlen, "%s: cannot read: %s", path, strerror(errno));
		return NULL;
	}
	char *buf = malloc(65536);
	size_t n = buf ? fread(buf, 1, 65535, f) : 0;
	fclose(f);
	if (buf == NULL) {
		fail(err, errlen, "%s: out of memory", path);
		return NULL;
	}
	while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r' || buf[n - 1] == ' '))
		n--;
	buf[n] = '\0';
	return buf;
}

int kube_config_from_kubeconfig(const char *path, const char *context,
				struct kube_client_config *out, char *err, size_t errlen)
{
	memset(out, 0, sizeof(*out));
	char yerr[512];
	json_t *root = control_yaml_load_first(path, yerr, sizeof(yerr));
	if (root == NULL)
		return fail(err, errlen, "kubeconfig %s", yerr);
	char base[4096];
	snprintf(base, sizeof(base), "%s", path);
	char *slash = strrchr(base, '/');
	if (slash)
		*slash = '\0';
	else
		base[0] = '\0';

	int rc = -1;
	const char *ctx_name = context ? context : str(root, "current-context");
	if (ctx_name == NULL) {
		fail(err, errlen, "kubeconfig %s: current-context: missing; name a context", path);
		goto out;
	}
	json_t *ctx =
		json_object_get(named(json_object_get(root, "contexts"), ctx_name), "context");
	if (!json_is_object(ctx)) {
		fail(err, errlen, "kubeconfig %s: contexts: no context named \"%s\"", path,
		     ctx_name);
		goto out;
	}
	const char *cl_name = str(ctx, "cluster"), *user_name = str(ctx, "user");
	json_t *cl = cl_name ? json_object_get(named(json_object_get(root, "clusters"), cl_name),
					       "cluster")
			     : NULL;
	if (!json_is_object(cl)) {
		fail(err, errlen, "kubeconfig %s: context \"%s\": cluster \"%s\" not found", path,
		     ctx_name, cl_name ? cl_name : "");
		goto out;
	}
	const char *server = str(cl, "server");
	if (server == NULL ||
	    (strncmp(server, "https://", 8) != 0 && strncmp(server, "http://", 7) != 0)) {
		fail(err, errlen,
		     "kubeconfig %s: clusters[%s].cluster.server: \"%s\"; expected an https:// "
		     "URL",
		     path, cl_name, server ? server : "");
		goto out;
	}
	out->server = strdup(server);
	size_t sl = strlen(out->server);
	while (sl > 0 && out->server[sl - 1] == '/')
		out->server[--sl] = '\0';
	json_t *insecure = json_object_get(cl, "insecure-skip-tls-verify");
	out->insecure = json_is_true(insecure);
	if (str(cl, "certificate-authority-data")) {
		out->ca_data = base64_decode(str(cl, "certificate-authority-data"), &out->ca_len);
		if (out->ca_data == NULL) {
			fail(err, errlen,
			     "kubeconfig %s: clusters[%s].cluster.certificate-authority-data: not "
			     "base64",
			     path, cl_name);
			goto out;
		}
	} else if (str(cl, "certificate-authority")) {
		out->ca_file = resolve(base, str(cl, "certificate-authority"));
	}

	json_t *user = user_name ? json_object_get(named(json_object_get(root, "users"), user_name),
						   "user")
				 : NULL;
	if (user_name && !json_is_object(user)) {
		fail(err, errlen, "kubeconfig %s: context \"%s\": user \"%s\" not found", path,
		     ctx_name, user_name);
		goto out;
	}
	if (user) {
		if (json_object_get(user, "exec") || json_object_get(user, "auth-provider")) {
			fail(err, errlen,
			     "kubeconfig %s: users[%s].user: credential plugins (exec, "
			     "auth-provider) are not supported; use a token, tokenFile or a client "
			     "certificate (for a controller, a ServiceAccount token)",
			     path, user_name);
			goto out;
		}
		if (str(user, "token"))
			out->token = strdup(str(user, "token"));
		else if (str(user, "tokenFile"))
			out->token_file = resolve(base, str(user, "tokenFile"));
		if (str(user, "client-certificate-data")) {
			out->cert_data =
				base64_decode(str(user, "client-certificate-data"), &out->cert_len);
			out->key_data =
				str(user, "client-key-data")
					? base64_decode(str(user, "client-key-data"), &out->key_len)
					: NULL;
			if (out->cert_data == NULL || out->key_data == NULL) {
				fail(err, errlen,
				     "kubeconfig %s: users[%s].user: client-certificate-data and "
				     "client-key-data must both be base64",
				     path, user_name);
				goto out;
			}
		} else if (str(user, "client-certificate")) {
			out->cert_file = resolve(base, str(user, "client-certificate"));
			if (str(user, "client-key") == NULL) {
				fail(err, errlen,
				     "kubeconfig %s: users[%s].user.client-key: missing (needed "
				     "with "
				     "client-certificate)",
				     path, user_name);
				goto out;
			}
			out->key_file = resolve(base, str(user, "client-key"));
		}
		if (str(user, "username") && out->token == NULL && out->cert_file == NULL &&
		    out->cert_data == NULL && out->token_file == NULL) {
			fail(err, errlen,
			     "kubeconfig %s: users[%s].user: basic authentication is not "
			     "supported; use a token or a client certificate",
			     path, user_name);
			goto out;
		}
	}
	if (asprintf(&out->source, "kubeconfig %s (context %s)", path, ctx_name) < 0)
		out->source = NULL;
	rc = 0;
out:
	json_decref(root);
	if (rc != 0)
		kube_config_release(out);
	return rc;
}

int kube_config_in_cluster(const char *sa_dir, struct kube_client_config *out, char *err,
			   size_t errlen)
{
	memset(out, 0, sizeof(*out));
	const char *host = getenv("KUBERNETES_SERVICE_HOST");
	const char *port = getenv("KUBERNETES_SERVICE_PORT");
	if (host == NULL || host[0] == '\0' || port == NULL || port[0] == '\0')
		return fail(err, errlen,
			    "in-cluster: KUBERNETES_SERVICE_HOST and KUBERNETES_SERVICE_PORT are "
			    "not set (not running in a pod?); use kubernetes.kubeconfig instead");
	char tok[4096], ca[4096];
	snprintf(tok, sizeof(tok), "%s/token", sa_dir);
	snprintf(ca, sizeof(ca), "%s/ca.crt", sa_dir);
	FILE *f = fopen(tok, "rb");
	if (f == NULL)
		return fail(err, errlen,
			    "in-cluster: %s: %s (is a ServiceAccount token mounted into the pod?)",
			    tok, strerror(errno));
	fclose(f);
	bool v6 = strchr(host, ':') != NULL;
	if (asprintf(&out->server, v6 ? "https://[%s]:%s" : "https://%s:%s", host, port) < 0)
		return fail(err, errlen, "out of memory");
	out->token_file = strdup(tok);
	out->ca_file = strdup(ca);
	out->source = strdup("in-cluster service account");
	return 0;
}

/* Used by xfer.c: the token for the next request. */
char *kube__token(const struct kube_client_config *c, char *err, size_t errlen)
{
	if (c->token)
		return strdup(c->token);
	if (c->token_file)
		return read_trimmed(c->token_file, err, errlen);
	return NULL;
}
