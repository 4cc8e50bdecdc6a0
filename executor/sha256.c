/* sha256.c: see sha256.h. */
#include "sha256.h"

#include <string.h>

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#include <immintrin.h>
#define SG_SHA256_HAVE_NI 1
#endif

static const uint32_t sg_k[64] = {
	0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
	0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
	0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
	0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
	0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
	0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
	0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
	0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
};

/* ---- plain C (FIPS 180-4, 6.2.2) --------------------------------------------------------- */

static inline uint32_t ror(uint32_t x, unsigned n)
{
	return (x >> n) | (x << (32 - n));
}

static inline uint32_t load_be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | (uint32_t)p[3];
}

static void blocks_portable(uint32_t st[8], const uint8_t *p, size_t n)
{
	for (; n; n--, p += 64) {
		uint32_t w[64];
		for (int t = 0; t < 16; t++)
			w[t] = load_be32(p + 4 * t);
		for (int t = 16; t < 64; t++) {
			uint32_t s0 = ror(w[t - 15], 7) ^ ror(w[t - 15], 18) ^ (w[t - 15] >> 3);
			uint32_t s1 = ror(w[t - 2], 17) ^ ror(w[t - 2], 19) ^ (w[t - 2] >> 10);
			w[t] = w[t - 16] + s0 + w[t - 7] + s1;
		}
		uint32_t a = st[0], b = st[1], c = st[2], d = st[3], e = st[4], f = st[5], g = st[6], h = st[7];
		for (int t = 0; t < 64; t++) {
			uint32_t t1 = h + (ror(e, 6) ^ ror(e, 11) ^ ror(e, 25)) + ((e & f) ^ (~e & g)) + sg_k[t] + w[t];
			uint32_t t2 = (ror(a, 2) ^ ror(a, 13) ^ ror(a, 22)) + ((a & b) ^ (a & c) ^ (b & c));
			h = g;
			g = f;
			f = e;
			e = d + t1;
			d = c;
			c = b;
			b = a;
			a = t1 + t2;
		}
		st[0] += a;
		st[1] += b;
		st[2] += c;
		st[3] += d;
		st[4] += e;
		st[5] += f;
		st[6] += g;
		st[7] += h;
	}
}

/* ---- the x86 SHA extensions ------------------------------------------------------------ */

#ifdef SG_SHA256_HAVE_NI
/* sha256rnds2 works on the state as two registers, ABEF and CDGH, and does two rounds
 * with the (message + constant) words in the low half of its third operand; the message
 * schedule is sha256msg1 (w[t-16] + sigma0(w[t-15])), plus w[t-7], then sha256msg2 (the
 * sigma1 terms), four words at a time. */
__attribute__((target("sha,sse4.1,ssse3"))) static void blocks_ni(uint32_t st[8], const uint8_t *p, size_t n)
{
	const __m128i bswap = _mm_set_epi64x(0x0c0d0e0f08090a0bULL, 0x0405060700010203ULL);
	__m128i tmp = _mm_shuffle_epi32(_mm_loadu_si128((const __m128i *)&st[0]), 0xB1); /* CDAB */
	__m128i s1 = _mm_shuffle_epi32(_mm_loadu_si128((const __m128i *)&st[4]), 0x1B);  /* EFGH */
	__m128i s0 = _mm_alignr_epi8(tmp, s1, 8);                                           /* ABEF */
	s1 = _mm_blend_epi16(s1, tmp, 0xF0);                                                 /* CDGH */
	for (; n; n--, p += 64) {
		__m128i abef = s0, cdgh = s1, w[16];
		for (int g = 0; g < 16; g++) {
			if (g < 4)
				w[g] = _mm_shuffle_epi8(_mm_loadu_si128((const __m128i *)(p + 16 * g)), bswap);
			else
				w[g] = _mm_sha256msg2_epu32(
					_mm_add_epi32(_mm_sha256msg1_epu32(w[g - 4], w[g - 3]),
						      _mm_alignr_epi8(w[g - 1], w[g - 2], 4)),
					w[g - 1]);
			__m128i wk = _mm_add_epi32(w[g], _mm_loadu_si128((const __m128i *)&sg_k[4 * g]));
			s1 = _mm_sha256rnds2_epu32(s1, s0, wk);
			s0 = _mm_sha256rnds2_epu32(s0, s1, _mm_shuffle_epi32(wk, 0x0E));
		}
		s0 = _mm_add_epi32(s0, abef);
		s1 = _mm_add_epi32(s1, cdgh);
	}
	tmp = _mm_shuffle_epi32(s0, 0x1B);     /* FEBA */
	s1 = _mm_shuffle_epi32(s1, 0xB1);      /* DCHG */
	s0 = _mm_blend_epi16(tmp, s1, 0xF0);   /* DCBA */
	s1 = _mm_alignr_epi8(s1, tmp, 8);      /* HGFE */
	_mm_storeu_si128((__m128i *)&st[0], s0);
	_mm_storeu_si128((__m128i *)&st[4], s1);
}

static int cpu_has_ni(void)
{
	unsigned a, b, c, d;
	if (!__get_cpuid(1, &a, &b, &c, &d) || !(c & bit_SSSE3) || !(c & bit_SSE4_1))
		return 0;
	if (!__get_cpuid_count(7, 0, &a, &b, &c, &d))
		return 0;
	return (b & bit_SHA) != 0;
}
#endif

/* ---- dispatch and the message ------------------------------------------------------------ */

typedef void (*blocks_fn)(uint32_t st[8], const uint8_t *p, size_t n);

static int force_portable;

static blocks_fn blocks(void)
{
#ifdef SG_SHA256_HAVE_NI
	static int ni = -1; /* the CPU's answer does not change: a race writes the same value */
	if (__atomic_load_n(&ni, __ATOMIC_RELAXED) < 0)
		__atomic_store_n(&ni, cpu_has_ni(), __ATOMIC_RELAXED);
	if (__atomic_load_n(&ni, __ATOMIC_RELAXED) && !__atomic_load_n(&force_portable, __ATOMIC_RELAXED))
		return blocks_ni;
#endif
	return blocks_portable;
}

const char *sg_sha256_impl(void)
{
	return blocks() == blocks_portable ? "portable" : "sha-ni";
}

void sg_sha256_force_portable(int on)
{
	__atomic_store_n(&force_portable, on != 0, __ATOMIC_RELAXED);
}

void sg_sha256_init(sg_sha256_ctx *c)
{
	static const uint32_t iv[8] = {0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a,
				       0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19};
	memcpy(c->state, iv, sizeof(iv));
	c->bytes = 0;
	c->block_len = 0;
}

void sg_sha256_add(sg_sha256_ctx *c, const void *data, size_t len)
{
	if (!len)
		return; /* data may be NULL then */
	const uint8_t *p = data;
	c->bytes += len;
	if (c->block_len) {
		size_t take = 64 - c->block_len < len ? 64 - c->block_len : len;
		memcpy(c->block + c->block_len, p, take);
		c->block_len += take;
		p += take;
		len -= take;
		if (c->block_len < 64)
			return;
		blocks()(c->state, c->block, 1);
		c->block_len = 0;
	}
	if (len >= 64) {
		blocks()(c->state, p, len / 64);
		p += len - len % 64;
		len %= 64;
	}
	if (len) {
		memcpy(c->block, p, len);
		c->block_len = len;
	}
}

void sg_sha256_end(sg_sha256_ctx *c, uint8_t out[SG_SHA256_LEN])
{
	uint64_t bits = c->bytes * 8;
	uint8_t pad[72] = {0x80};
	/* 0x80, zeros up to 56 mod 64, the length in bits, big-endian */
	size_t padlen = (c->block_len < 56 ? 56 : 120) - c->block_len;
	for (int i = 0; i < 8; i++)
		pad[padlen + (size_t)i] = (uint8_t)(bits >> (56 - 8 * i));
	sg_sha256_add(c, pad, padlen + 8);
	for (int i = 0; i < 8; i++) {
		out[4 * i] = (uint8_t)(c->state[i] >> 24);
		out[4 * i + 1] = (uint8_t)(c->state[i] >> 16);
		out[4 * i + 2] = (uint8_t)(c->state[i] >> 8);
		out[4 * i + 3] = (uint8_t)c->state[i];
	}
	sg_sha256_init(c);
}

void sg_sha256_bytes(const void *data, size_t len, uint8_t out[SG_SHA256_LEN])
{
	sg_sha256_ctx c;
	sg_sha256_init(&c);
	sg_sha256_add(&c, data, len);
	sg_sha256_end(&c, out);
}
