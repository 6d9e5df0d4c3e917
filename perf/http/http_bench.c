/*
 * http_bench: cycles per request and per byte for typical browser request heads (300–800 bytes,
 * 10–20 headers), SIMD scanning against the byte-at-a-time path of the same parser, side by
 * side in one run. Also: the same heads arriving in 3 segments (re-parse cost of incremental
 * feeding), and path normalisation.
 * Usage: http_bench [rounds]   (default 200000 requests per case)
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <x86intrin.h>

#include "http/http.h"

static const char *const heads[] = {
	"GET /static/app.3f9c2a.js HTTP/1.1\r\n"
	"Host: shop.example.com\r\n"
	"User-Agent: Mozilla/5.0 (X11; Linux x86_64; rv:120.0) Gecko/20100101 Firefox/120.0\r\n"
	"Accept: */*\r\n"
	"Accept-Language: en-GB,en;q=0.5\r\n"
	"Accept-Encoding: gzip, deflate, br\r\n"
	"Referer: https://shop.example.com/cart\r\n"
	"Connection: keep-alive\r\n"
	"Sec-Fetch-Dest: script\r\n"
	"Sec-Fetch-Mode: no-cors\r\n"
	"Sec-Fetch-Site: same-origin\r\n"
	"\r\n",

	"GET /api/v2/products?category=shoes&size=42&sort=price HTTP/1.1\r\n"
	"Host: api.example.com\r\n"
	"User-Agent: Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, "
	"like Gecko) Chrome/119.0.0.0 Safari/537.36\r\n"
	"Accept: application/json, text/plain, */*\r\n"
	"Accept-Language: en-US,en;q=0.9\r\n"
	"Accept-Encoding: gzip, deflate, br\r\n"
	"Authorization: Bearer eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0."
	"dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U\r\n"
	"Origin: https://www.example.com\r\n"
	"Referer: https://www.example.com/\r\n"
	"Sec-Ch-Ua: \"Google Chrome\";v=\"119\", \"Chromium\";v=\"119\"\r\n"
	"Sec-Ch-Ua-Mobile: ?0\r\n"
	"Sec-Ch-Ua-Platform: \"macOS\"\r\n"
	"Sec-Fetch-Dest: empty\r\n"
	"Sec-Fetch-Mode: cors\r\n"
	"Sec-Fetch-Site: same-site\r\n"
	"Cookie: session=8f14e45fceea167a5a36dedd4bea2543; theme=dark; consent=1\r\n"
	"\r\n",

	"POST /checkout/submit HTTP/1.1\r\n"
	"Host: shop.example.com\r\n"
	"User-Agent: Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X) AppleWebKit/605.1.15 "
	"(KHTML, like Gecko) Version/17.1 Mobile/15E148 Safari/604.1\r\n"
	"Accept: text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8\r\n"
	"Accept-Language: fr-FR,fr;q=0.9\r\n"
	"Accept-Encoding: gzip, deflate, br\r\n"
	"Content-Type: application/x-www-form-urlencoded\r\n"
	"Content-Length: 245\r\n"
	"Origin: https://shop.example.com\r\n"
	"Referer: https://shop.example.com/checkout\r\n"
	"Cookie: session=c9f0f895fb98ab9159f51fd0297e236d; cart=17,42,99; ab=variant-b\r\n"
	"Upgrade-Insecure-Requests: 1\r\n"
	"Sec-Fetch-Dest: document\r\n"
	"Sec-Fetch-Mode: navigate\r\n"
	"Sec-Fetch-Site: same-origin\r\n"
	"Sec-Fetch-User: ?1\r\n"
	"Connection: keep-alive\r\n"
	"\r\n",
};
#define N_HEADS (sizeof(heads) / sizeof(heads[0]))

static const struct http_limits lim = {.max_request_line = 8192,
				       .max_head_bytes = 8192,
				       .max_headers = 100,
				       .reject_bare_lf = true};

static volatile int sink;

static double run(long rounds, int segments, size_t *bytes_out)
{
	size_t bytes = 0;
	uint64_t t0 = __rdtsc();
	for (long i = 0; i < rounds; i++) {
		const char *h = heads[i % N_HEADS];
		size_t n = strlen(h);
		struct http_request_parser ps;
		struct http_request r;
		http_request_parser_init(&ps);
		int rc = HTTP_NEED_MORE;
		for (int s = 1; s <= segments && rc == HTTP_NEED_MORE; s++)
			rc = http_request_parse(&ps, &lim, (const uint8_t *)h,
						n * (size_t)s / (size_t)segments, &r);
		if (rc <= 0) {
			fprintf(stderr, "parse failed: %s\n", http_error_name(r.error));
			exit(1);
		}
		sink += rc;
		bytes += n;
	}
	*bytes_out = bytes;
	return (double)(__rdtsc() - t0);
}

int main(int argc, char **argv)
{
	long rounds = argc > 1 ? atol(argv[1]) : 200000;
	size_t bytes;
	size_t sizes[N_HEADS];
	for (size_t i = 0; i < N_HEADS; i++)
		sizes[i] = strlen(heads[i]);

	http_set_simd(false);
	run(rounds / 10, 1, &bytes); /* warm up */
	double scalar = run(rounds, 1, &bytes);
	http_set_simd(true);
	double simd = run(rounds, 1, &bytes);
	double simd3 = run(rounds, 3, &bytes);

	char out[256];
	uint64_t t0 = __rdtsc();
	const char *p = "/api/v2/../v3/./products//shoes/%7Eall";
	for (long i = 0; i < rounds; i++)
		sink += http_normalize_path((const uint8_t *)p, strlen(p), out, sizeof(out));
	double norm = (double)(__rdtsc() - t0) / (double)rounds;

	printf("request heads of %zu, %zu and %zu bytes, %ld requests per case\n", sizes[0],
	       sizes[1], sizes[2], rounds);
	printf("%-40s %8.0f cycles/request %6.2f cycles/byte  1.00x\n", "byte-at-a-time baseline",
	       scalar / (double)rounds, scalar / (double)bytes);
	printf("%-40s %8.0f cycles/request %6.2f cycles/byte  %.2fx\n", "SIMD (SSE4.2 + memchr)",
	       simd / (double)rounds, simd / (double)bytes, simd / scalar);
	printf("%-40s %8.0f cycles/request %6.2f cycles/byte  %.2fx\n", "SIMD, head in 3 segments",
	       simd3 / (double)rounds, simd3 / (double)bytes, simd3 / scalar);
	printf("%-40s %8.0f cycles/path\n", "path normalisation (40-byte path)", norm);
	return 0;
}
