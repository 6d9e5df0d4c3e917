/*
 * proxy_v2.c: the PROXY protocol v2 header (per Ingress, sluice.dev/proxy-protocol: "v2").
 *
 * The pod sees the SNAT address; a pod that wants the client's own address asks for this
 * header, which names the client's address and port and the VIP's. It goes in front of the
 * buffered request, once per pod stream, and the SYN to the pod starts that many bytes earlier
 * (the stored client ISN moves back by its length), so the client's bytes keep their sequence
 * numbers and the splice translates nothing more.
 */
#include "tcp/tcp-int.h"

#include <string.h>

#define PROXY_V2_LEN 28 /* signature, version/command, family, length, IPv4 addresses, ports */

bool proxy_v2_insert(struct tcpl_ctx *c, struct conn *f)
{
	if (f->opts & CONN_OPT_PROXIED)
		return true;
	if (f->buf == CONN_NONE || f->req_len + PROXY_V2_LEN > c->cfg.request_buffer)
		return false;
	static const uint8_t sig[12] = {0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d,
					0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a};
	uint8_t *b = buf_of(c, f);
	memmove(b + PROXY_V2_LEN, b, f->req_len);
	memcpy(b, sig, 12);
	b[12] = 0x21; /* version 2, PROXY */
	b[13] = 0x11; /* IPv4, stream */
	b[14] = 0;
	b[15] = 12;
	memcpy(b + 16, &f->client_ip, 4);
	memcpy(b + 20, &f->vip, 4);
	memcpy(b + 24, &f->client_port, 2);
	memcpy(b + 26, &f->vip_port, 2);
	f->req_len += PROXY_V2_LEN;
	f->client_isn -= PROXY_V2_LEN;
	f->opts |= CONN_OPT_PROXIED;
	return true;
}
