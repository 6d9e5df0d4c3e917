/*
 * tls-int.h: what the files of lib/tls share. Nothing here is exported from the module.
 */
#ifndef SLUICE_TLS_INT_H
#define SLUICE_TLS_INT_H

#include <openssl/evp.h>
#include <openssl/x509.h>

#include "tls/tls.h"

struct tls_cert {
	X509 *leaf;
	STACK_OF(X509) * chain; /* intermediates, leaf excluded; may be empty */
	EVP_PKEY *key;
	enum tls_key_kind kind;
	int64_t not_after;
	unsigned refs; /* management lcore only */
	char *source;  /* where it came from ("ns/name" of its Secret), for messages */
	bool self_signed_default;
};

#endif
