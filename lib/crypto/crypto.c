/*
 * crypto.c: cookie MACs through ipsec-mb's cipher burst API.
 */
#include "crypto/crypto.h"

#include <intel-ipsec-mb.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

/* Common MSS values: IPv4 minimum, tunnels/VPNs, PPPoE, Ethernet, jumbo. */
const uint16_t crypto_mss_table[CRYPTO_MSS_COUNT] = {536, 1200, 1360, 1400, 1440, 1452, 1460, 8960};

struct crypto_ctx {
	IMB_MGR *mgr;
	IMB_JOB jobs[CRYPTO_BURST_MAX];
	uint8_t blocks[CRYPTO_BURST_MAX][16];
	uint8_t out[CRYPTO_BURST_MAX][16];
};

struct crypto_ctx *crypto_ctx_create(void)
{
	struct crypto_ctx *c = aligned_alloc(64, (sizeof(struct crypto_ctx) + 63) & ~(size_t)63);
	if (c == NULL)
		return NULL;
	memset(c, 0, sizeof(*c));
	c->mgr = alloc_mb_mgr(0);
	if (c->mgr == NULL) {
		free(c);
		return NULL;
	}
	init_mb_mgr_auto(c->mgr, NULL);
	if (imb_get_errno(c->mgr) != 0) {
		free_mb_mgr(c->mgr);
		free(c);
		return NULL;
	}
	return c;
}

void crypto_ctx_free(struct crypto_ctx *c)
{
	if (c == NULL)
		return;
	free_mb_mgr(c->mgr);
	free(c);
}

const char *crypto_ctx_arch(const struct crypto_ctx *c)
{
	switch (c->mgr->used_arch) {
	case IMB_ARCH_AVX512:
		return "avx512";
	case IMB_ARCH_AVX2:
		return "avx2";
	case IMB_ARCH_AVX:
		return "avx";
	case IMB_ARCH_SSE:
		return "sse";
	default:
		return "other";
	}
}

int crypto_keys_rotate(struct crypto_ctx *c, struct crypto_keys *next,
		       const struct crypto_keys *prev, uint32_t now_count)
{
	uint8_t raw[16];
	if (getrandom(raw, sizeof(raw), 0) != (ssize_t)sizeof(raw))
		return -1;
	uint32_t dec[4 * 15] __attribute__((aligned(16)));
	memset(next, 0, sizeof(*next));
	memcpy(next->current_raw, raw, 16);
	IMB_AES_KEYEXP_128(c->mgr, raw, next->current_exp, dec);
	if (prev) {
		memcpy(next->previous_raw, prev->current_raw, 16);
		memcpy(next->previous_exp, prev->current_exp, sizeof(next->previous_exp));
	} else {
		memcpy(next->previous_raw, raw, 16);
		memcpy(next->previous_exp, next->current_exp, sizeof(next->previous_exp));
	}
	/* The new secret signs from the next period on. A worker may still hold the previous key
	 * struct for a moment after the publish; with the switch at a period boundary, both
	 * structs agree on which secret covers every counter either can see. */
	next->epoch = now_count + 1;
	return 0;
}

unsigned crypto_mss_index(uint16_t mss)
{
	unsigned idx = 0;
	for (unsigned i = 0; i < CRYPTO_MSS_COUNT; i++)
		if (crypto_mss_table[i] <= mss)
			idx = i;
	return idx;
}

static void block_of(uint8_t b[16], const struct crypto_cookie_in *in, uint32_t count,
		     unsigned mss_idx)
{
	memcpy(b, &in->saddr, 4);
	memcpy(b + 4, &in->daddr, 4);
	memcpy(b + 8, &in->sport, 2);
	memcpy(b + 10, &in->dport, 2);
	uint32_t w = count ^ ((uint32_t)mss_idx << 29);
	memcpy(b + 12, &w, 4);
}

static const uint8_t zero_iv[16] __attribute__((aligned(16)));

/* Encrypt c->blocks[0..n) into c->out with per-job keys, in one cipher burst. */
static void aes_burst(struct crypto_ctx *c, const void *const *keys, uint16_t n)
{
	for (uint16_t i = 0; i < n; i++) {
		IMB_JOB *j = &c->jobs[i];
		j->enc_keys = keys[i];
		j->src = c->blocks[i];
		j->dst = c->out[i];
		j->cipher_start_src_offset_in_bytes = 0;
		j->msg_len_to_cipher_in_bytes = 16;
		j->iv = zero_iv;
		j->iv_len_in_bytes = 16;
	}
	/* One CBC block under a zero IV is exactly one AES block (ECB); ipsec-mb 1.3's cipher
	 * burst takes CBC. */
	IMB_SUBMIT_CIPHER_BURST_NOCHECK(c->mgr, c->jobs, n, IMB_CIPHER_CBC, IMB_DIR_ENCRYPT,
					IMB_KEY_128_BYTES);
}

static inline uint32_t mac23(const uint8_t out[16])
{
	uint32_t v;
	memcpy(&v, out, 4);
	return v & 0x7fffff;
}

static const void *key_for(const struct crypto_keys *k, uint32_t count)
{
	return count >= k->epoch ? (const void *)k->current_exp : (const void *)k->previous_exp;
}

void crypto_cookie_make_burst(struct crypto_ctx *c, const struct crypto_keys *k,
			      const struct crypto_cookie_in *in, const uint8_t *mss_idx, uint16_t n,
			      uint32_t now_count, uint32_t *cookie_out)
{
	const void *keys[CRYPTO_BURST_MAX];
	if (n == 0)
		return;
	if (n > CRYPTO_BURST_MAX)
		n = CRYPTO_BURST_MAX;
	for (uint16_t i = 0; i < n; i++) {
		block_of(c->blocks[i], &in[i], now_count, mss_idx[i] & 7);
		keys[i] = key_for(k, now_count);
	}
	aes_burst(c, keys, n);
	for (uint16_t i = 0; i < n; i++)
		cookie_out[i] = (now_count & 0x3f) << 26 | (uint32_t)(mss_idx[i] & 7) << 23 |
				mac23(c->out[i]);
}

void crypto_cookie_check_burst(struct crypto_ctx *c, const struct crypto_keys *k,
			       const struct crypto_cookie_in *in, const uint32_t *cookie,
			       uint16_t n, uint32_t now_count, bool *ok, uint16_t *mss_out)
{
	const void *keys[CRYPTO_BURST_MAX];
	uint32_t counts[CRYPTO_BURST_MAX];
	if (n == 0)
		return;
	if (n > CRYPTO_BURST_MAX)
		n = CRYPTO_BURST_MAX;
	for (uint16_t i = 0; i < n; i++) {
		/* The cookie names the low 6 bits of its counter: this one or the previous. */
		uint32_t low = cookie[i] >> 26;
		uint32_t cnt = (now_count & 0x3f) == low ? now_count : now_count - 1;
		counts[i] = cnt;
		block_of(c->blocks[i], &in[i], cnt, (cookie[i] >> 23) & 7);
		keys[i] = key_for(k, cnt);
	}
	aes_burst(c, keys, n);
	for (uint16_t i = 0; i < n; i++) {
		bool fresh = (counts[i] & 0x3f) == cookie[i] >> 26 &&
			     (counts[i] == now_count || counts[i] + 1 == now_count);
		ok[i] = fresh && mac23(c->out[i]) == (cookie[i] & 0x7fffff);
		mss_out[i] = crypto_mss_table[(cookie[i] >> 23) & 7];
	}
}
