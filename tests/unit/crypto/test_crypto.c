/* SYN cookies: round trip, tampering, expiry, key rotation, burst equals singles. */
#include <criterion/criterion.h>
#include <arpa/inet.h>
#include <string.h>

#include "crypto/crypto.h"

static struct crypto_ctx *ctx;
static struct crypto_keys keys;

static void setup(void)
{
	ctx = crypto_ctx_create();
	cr_assert_not_null(ctx);
	cr_assert_eq(crypto_keys_rotate(ctx, &keys, NULL, 1000), 0);
}

static void teardown(void)
{
	crypto_ctx_free(ctx);
}

TestSuite(crypto, .init = setup, .fini = teardown);

static struct crypto_cookie_in tuple(void)
{
	return (struct crypto_cookie_in){inet_addr("198.18.0.2"), inet_addr("198.18.0.10"),
					 htons(40000), htons(80)};
}

static bool check(const struct crypto_keys *k, struct crypto_cookie_in in, uint32_t cookie,
		  uint32_t count, uint16_t *mss)
{
	bool ok;
	crypto_cookie_check_burst(ctx, k, &in, &cookie, 1, count, &ok, mss);
	return ok;
}

Test(crypto, round_trip_for_every_mss_index)
{
	for (uint8_t m = 0; m < CRYPTO_MSS_COUNT; m++) {
		struct crypto_cookie_in in = tuple();
		uint32_t cookie;
		crypto_cookie_make_burst(ctx, &keys, &in, &m, 1, 1000, &cookie);
		uint16_t mss;
		cr_assert(check(&keys, in, cookie, 1000, &mss), "mss index %u", m);
		cr_assert_eq(mss, crypto_mss_table[m]);
	}
}

Test(crypto, a_flipped_bit_anywhere_fails)
{
	struct crypto_cookie_in in = tuple();
	uint8_t m = 6;
	uint32_t cookie;
	uint16_t mss;
	crypto_cookie_make_burst(ctx, &keys, &in, &m, 1, 1000, &cookie);
	for (int b = 0; b < 32; b++)
		cr_assert_not(check(&keys, in, cookie ^ (1u << b), 1000, &mss), "cookie bit %d", b);
	uint8_t *bytes = (uint8_t *)&in;
	for (size_t i = 0; i < sizeof(in); i++) {
		struct crypto_cookie_in t = in;
		((uint8_t *)&t)[i] ^= 1;
		cr_assert_not(check(&keys, t, cookie, 1000, &mss), "tuple byte %zu", i);
		(void)bytes;
	}
}

Test(crypto, cookie_expires_after_two_counters)
{
	struct crypto_cookie_in in = tuple();
	uint8_t m = 6;
	uint32_t cookie;
	uint16_t mss;
	crypto_cookie_make_burst(ctx, &keys, &in, &m, 1, 1000, &cookie);
	cr_assert(check(&keys, in, cookie, 1001, &mss), "previous counter accepted");
	cr_assert_not(check(&keys, in, cookie, 1002, &mss), "two counters later refused");
	cr_assert_not(check(&keys, in, cookie, 1000 + 64, &mss), "same low bits, 64 later");
}

Test(crypto, rotation_keeps_the_previous_key_for_one_round)
{
	struct crypto_cookie_in in = tuple();
	uint8_t m = 3;
	uint32_t cookie;
	uint16_t mss;
	crypto_cookie_make_burst(ctx, &keys, &in, &m, 1, 1000, &cookie);
	struct crypto_keys next, after;
	cr_assert_eq(crypto_keys_rotate(ctx, &next, &keys, 1001), 0);
	cr_assert(check(&next, in, cookie, 1001, &mss), "cookie from before the rotation");
	cr_assert_eq(crypto_keys_rotate(ctx, &after, &next, 1001), 0);
	cr_assert_not(check(&after, in, cookie, 1001, &mss), "two rotations: key gone");
}

Test(crypto, burst_of_32_equals_32_singles)
{
	struct crypto_cookie_in in[32];
	uint8_t m[32];
	uint32_t burst[32];
	for (int i = 0; i < 32; i++) {
		in[i] = tuple();
		in[i].sport = htons((uint16_t)(30000 + i * 7));
		m[i] = (uint8_t)(i % CRYPTO_MSS_COUNT);
	}
	crypto_cookie_make_burst(ctx, &keys, in, m, 32, 1000, burst);
	for (int i = 0; i < 32; i++) {
		uint32_t one;
		crypto_cookie_make_burst(ctx, &keys, &in[i], &m[i], 1, 1000, &one);
		cr_assert_eq(one, burst[i], "cookie %d", i);
	}
	bool ok[32];
	uint16_t mss[32];
	crypto_cookie_check_burst(ctx, &keys, in, burst, 32, 1000, ok, mss);
	for (int i = 0; i < 32; i++)
		cr_assert(ok[i]);
}

Test(crypto, mss_index_rounds_down)
{
	cr_assert_eq(crypto_mss_table[crypto_mss_index(1460)], 1460);
	cr_assert_eq(crypto_mss_table[crypto_mss_index(1459)], 1452);
	cr_assert_eq(crypto_mss_table[crypto_mss_index(9000)], 8960);
	cr_assert_eq(crypto_mss_index(100), 0);
}

Test(crypto, cookie_signed_just_before_a_rotation_checks_after_it)
{
	/* A worker signs with the old key struct in the same period the new one is published. */
	struct crypto_cookie_in in = tuple();
	uint8_t m = 6;
	uint32_t cookie;
	uint16_t mss;
	struct crypto_keys next;
	crypto_cookie_make_burst(ctx, &keys, &in, &m, 1, 1000, &cookie);
	cr_assert_eq(crypto_keys_rotate(ctx, &next, &keys, 1000), 0);
	cr_assert(check(&next, in, cookie, 1000, &mss), "same period, new struct");
	cr_assert(check(&next, in, cookie, 1001, &mss), "next period, new struct");
	/* A cookie made with the new struct in the same period checks with the old one too. */
	uint32_t c2;
	crypto_cookie_make_burst(ctx, &next, &in, &m, 1, 1000, &c2);
	cr_assert(check(&keys, in, c2, 1000, &mss));
}

/* A check burst mixing cookies under the current and the previous key (one call per key). */
Test(crypto, mixed_key_burst_checks_every_cookie_and_rejects_forgeries)
{
	struct crypto_cookie_in in[16];
	uint8_t m[16];
	uint32_t cookies[16];
	for (int i = 0; i < 16; i++) {
		in[i] = tuple();
		in[i].sport = htons((uint16_t)(20000 + i));
		m[i] = (uint8_t)(i % CRYPTO_MSS_COUNT);
	}
	/* Even ones signed before a rotation (previous key), odd ones after (current key). */
	for (int i = 0; i < 16; i += 2)
		crypto_cookie_make_burst(ctx, &keys, &in[i], &m[i], 1, 1000, &cookies[i]);
	struct crypto_keys next;
	cr_assert_eq(crypto_keys_rotate(ctx, &next, &keys, 1001), 0);
	for (int i = 1; i < 16; i += 2)
		crypto_cookie_make_burst(ctx, &next, &in[i], &m[i], 1, 1001, &cookies[i]);
	cookies[5] ^= 1; /* a forgery in the middle of the burst */
	bool ok[16];
	uint16_t mss[16];
	crypto_cookie_check_burst(ctx, &next, in, cookies, 16, 1001, ok, mss);
	for (int i = 0; i < 16; i++) {
		cr_assert_eq(ok[i], i != 5, "cookie %d", i);
		if (i != 5)
			cr_assert_eq(mss[i], crypto_mss_table[m[i]]);
	}
}

Test(crypto, fixed_keys_give_every_process_the_same_cookies_and_random_keys_do_not)
{
	/* Benchmark replay: two gateways (two contexts) with bench.fixed_cookies hand out the same
	 * cookie for a tuple, and each checks the other's; with random keys they differ. */
	struct crypto_ctx *other = crypto_ctx_create();
	cr_assert_not_null(other);
	struct crypto_keys a, b, r;
	crypto_keys_fixed(ctx, &a);
	crypto_keys_fixed(other, &b);
	struct crypto_cookie_in in = tuple();
	uint8_t mi = 3;
	uint32_t ca, cb, cr_;
	crypto_cookie_make_burst(ctx, &a, &in, &mi, 1, 0, &ca);
	crypto_cookie_make_burst(other, &b, &in, &mi, 1, 0, &cb);
	cr_assert_eq(ca, cb);
	uint16_t mss = 0;
	cr_assert(check(&b, in, ca, 0, &mss));
	cr_assert_eq(mss, crypto_mss_table[3]);
	cr_assert_eq(crypto_keys_rotate(other, &r, NULL, 0), 0);
	crypto_cookie_make_burst(other, &r, &in, &mi, 1, 0, &cr_);
	cr_assert_neq(ca, cr_, "a random key signs differently (1 in 8 million to collide)");
	crypto_ctx_free(other);
}
