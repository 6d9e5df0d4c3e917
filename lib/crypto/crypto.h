/*
 * crypto: SYN cookies, MAC'd a whole burst at a time with Intel ipsec-mb.
 *
 * A SYN cookie is the ISN of our SYN-ACK; it lets the gateway answer a SYN without keeping any
 * state and recognise the client's ACK later (RFC 4987 §3.6). Layout of the 32 bits:
 *
 *     31      26 25  23 22                     0
 *     | count  | mss  |          MAC            |
 *       6 bits  3 bits        23 bits
 *
 * count is the low 6 bits of a 64-second time counter; mss indexes CRYPTO_MSS_TABLE; MAC is
 * AES-128 over one 16-byte block (client address, VIP, ports, the full counter and the MSS
 * index) under a secret key, truncated to 23 bits. A forger without the key has a 1 in 8 million
 * chance per guess, and a cookie is accepted for 64–128 s (this counter and the previous one).
 *
 * Why AES via ipsec-mb: AES-NI evaluates a 16-byte PRF in a few cycles. The burst's blocks sit
 * side by side and go to ipsec-mb in one ECB job per key (one call for the burst, two when a
 * check burst mixes the current and previous key), which pipelines them through AES-NI/VAES; a
 * lone block goes through the single-block CFB call (AES of the IV), which skips the job
 * manager. Measured on the development VM: 50 cycles for one block (the 1.3 cipher-burst API
 * took 190), 5 per block in bursts of 32 (it took 59).
 *
 * Keys: two secrets live at once. The management lcore rotates them (crypto_keys_rotate) by
 * building a new immutable struct crypto_keys and publishing the pointer; a worker uses the key
 * whose epoch covers the cookie's counter, so rotation never invalidates cookies in flight.
 */
#ifndef SLUICE_CRYPTO_H
#define SLUICE_CRYPTO_H

#include <stdbool.h>
#include <stdint.h>

#define CRYPTO_BURST_MAX 64
#define CRYPTO_MSS_COUNT 8
extern const uint16_t crypto_mss_table[CRYPTO_MSS_COUNT];

/* Two expanded AES keys; immutable once published. */
struct crypto_keys {
	uint32_t epoch; /* the counter at which `current` took over */
	uint8_t current_raw[16];
	uint8_t previous_raw[16];
	uint32_t current_exp[4 * 15] __attribute__((aligned(16)));
	uint32_t previous_exp[4 * 15] __attribute__((aligned(16)));
};

/* Per-lcore ipsec-mb manager. */
struct crypto_ctx;

struct crypto_ctx *crypto_ctx_create(void);
void crypto_ctx_free(struct crypto_ctx *c);
/* The ipsec-mb implementation chosen for this CPU ("avx512", "avx2", "sse", ...). */
const char *crypto_ctx_arch(const struct crypto_ctx *c);

/* Fill keys with a fresh random secret (getrandom) as current, the old current as previous.
 * The new secret takes over at the next counter period (epoch = now_count + 1), so cookies
 * signed just before the publish still check after it. Rotate at most once per period. */
int crypto_keys_rotate(struct crypto_ctx *c, struct crypto_keys *next,
		       const struct crypto_keys *prev, uint32_t now_count);

/* Benchmark replay only: keys from a fixed, public secret (current and previous alike, epoch 0),
 * so cookies depend on nothing but the addresses, ports and MSS when the counter is held at
 * 0 too. Anyone can forge such cookies. */
void crypto_keys_fixed(struct crypto_ctx *c, struct crypto_keys *k);

/* The 64-second counter for a time in seconds. */
static inline uint32_t crypto_cookie_count(uint64_t seconds)
{
	return (uint32_t)(seconds >> 6);
}

/* What a cookie binds: addresses and ports in network order. */
struct crypto_cookie_in {
	uint32_t saddr, daddr;
	uint16_t sport, dport;
};

/* The largest MSS index whose value does not exceed mss (0 if mss is below every entry). */
unsigned crypto_mss_index(uint16_t mss);

/* Make n cookies (n ≤ CRYPTO_BURST_MAX) in one ipsec-mb burst. mss_idx[i] per SYN. */
void crypto_cookie_make_burst(struct crypto_ctx *c, const struct crypto_keys *k,
			      const struct crypto_cookie_in *in, const uint8_t *mss_idx, uint16_t n,
			      uint32_t now_count, uint32_t *cookie_out);

/* Check n cookies (the ACK's ack number minus one). ok[i] and, when ok, mss_out[i]. */
void crypto_cookie_check_burst(struct crypto_ctx *c, const struct crypto_keys *k,
			       const struct crypto_cookie_in *in, const uint32_t *cookie,
			       uint16_t n, uint32_t now_count, bool *ok, uint16_t *mss_out);

#endif
