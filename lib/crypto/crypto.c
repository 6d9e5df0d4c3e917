/*
 * crypto.c: cookie MACs through ipsec-mb: the burst's blocks under one key in one ECB job (the
 * blocks are contiguous, so AES-NI/VAES pipelines them), a lone block through the single-block
 * call, which skips the job manager.
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
	uint8_t blocks[CRYPTO_BURST_MAX][16] __attribute__((aligned(64)));
	uint8_t out[CRYPTO_BURST_MAX][16] __attribute__((aligned(64)));
	uint8_t grouped[CRYPTO_BURST_MAX][16] __attribute__((aligned(64)));
	uint8_t grouped_out[CRYPTO_BURST_MAX][16] __attribute__((aligned(64)));
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

void crypto_keys_fixed(struct crypto_ctx *c, struct crypto_keys *k)
{
	static const uint8_t raw[16] = "sluice-bench-key";
	uint32_t dec[4 * 15] __attribute__((aligned(16)));
	memset(k, 0, sizeof(*k));
	memcpy(k->current_raw, raw, 16);
	memcpy(k->previous_raw, raw, 16);
	IMB_AES_KEYEXP_128(c->mgr, raw, k->current_exp, dec);
	memcpy(k->previous_exp, k->current_exp, sizeof(k->previous_exp));
	k->epoch = 0;
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

/* AES-128 of n contiguous blocks under one expanded key: one ipsec-mb call. */
static void aes_blocks(struct crypto_ctx *c, const void *key, const uint8_t (*src)[16],
		       uint8_t (*dst)[16], uint16_t n)
{
	if (n == 1) {
		/* CFB of one block over a zero block is AES_K(IV): the block as the IV. */
		IMB_AES128_CFB_ONE(c->mgr, dst[0], zero_iv, src[0], key, 16);
		return;
	}
	IMB_JOB *j = IMB_GET_NEXT_JOB(c->mgr);
	j->cipher_mode = IMB_CIPHER_ECB;
	j->cipher_direction = IMB_DIR_ENCRYPT;
	j->chain_order = IMB_ORDER_CIPHER_HASH;
	j->hash_alg = IMB_AUTH_NULL;
	j->key_len_in_bytes = IMB_KEY_128_BYTES;
	j->enc_keys = key;
	j->dec_keys = key; /* not used to encrypt; set for the job's checks */
	j->src = src[0];
	j->dst = dst[0];
	j->cipher_start_src_offset_in_bytes = 0;
	j->msg_len_to_cipher_in_bytes = 16u * n;
	j->iv = zero_iv;
	j->iv_len_in_bytes = 0;
	j = IMB_SUBMIT_JOB(c->mgr);
	if (j == NULL)
		j = IMB_FLUSH_JOB(c->mgr);
	if (j == NULL || j->status != IMB_STATUS_COMPLETED) {
		/* Never seen; stay correct anyway, one block at a time. */
		for (uint16_t i = 0; i < n; i++)
			IMB_AES128_CFB_ONE(c->mgr, dst[i], zero_iv, src[i], key, 16);
	}
}

/* Encrypt c->blocks[0..n) into c->out, block i under keys[i]: one call per distinct key (at most
 * two live keys, so one or two calls for the burst). */
static void aes_burst(struct crypto_ctx *c, const void *const *keys, uint16_t n)
{
	bool same = true;
	for (uint16_t i = 1; i < n; i++)
		same &= keys[i] == keys[0];
	if (same) {
		aes_blocks(c, keys[0], (const uint8_t(*)[16])c->blocks, c->out, n);
		return;
	}
	/* Two keys: group the blocks by key, encrypt each group, put the results back. */
	uint16_t pos[CRYPTO_BURST_MAX], na = 0;
	for (uint16_t i = 0; i < n; i++)
		if (keys[i] == keys[0]) {
			memcpy(c->grouped[na], c->blocks[i], 16);
			pos[i] = na++;
		}
	uint16_t nb = na;
	const void *other = NULL;
	for (uint16_t i = 0; i < n; i++)
		if (keys[i] != keys[0]) {
			other = keys[i];
			memcpy(c->grouped[nb], c->blocks[i], 16);
			pos[i] = nb++;
		}
	aes_blocks(c, keys[0], (const uint8_t(*)[16])c->grouped, c->grouped_out, na);
	aes_blocks(c, other, (const uint8_t(*)[16])c->grouped + na, c->grouped_out + na,
		   (uint16_t)(nb - na));
	for (uint16_t i = 0; i < n; i++)
		memcpy(c->out[i], c->grouped_out[pos[i]], 16);
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
