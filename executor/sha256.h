/* sha256.h: SHA-256 (FIPS 180-4), our own, so that hashing never loads libcrypto.
 *
 * Every run hashes (its job, its policy, its workspace, its logs and trace) while the
 * supervisor watches the sandbox, and libcrypto alone is more than 3 MB of a process's
 * RSS once loaded and initialised: the supervisor's own memory (issue 9's goal 5) is
 * what it keeps for the whole run. libcrypto stays for what needs it: keys and
 * signatures (sign.c).
 *
 * Two implementations of the compression function: the x86 SHA extensions where the
 * CPU has them (as fast as OpenSSL's use of them), plain C elsewhere. Both are checked
 * against FIPS 180-4's examples and against OpenSSL on random inputs
 * (tests/unit/test_sha256.c). */
#ifndef SHIPGATE_SHA256_H
#define SHIPGATE_SHA256_H

#include <stddef.h>
#include <stdint.h>

#define SG_SHA256_LEN 32

typedef struct sg_sha256_ctx {
	uint32_t state[8];
	uint64_t bytes;     /* hashed so far */
	uint8_t block[64];  /* the partial block */
	size_t block_len;
} sg_sha256_ctx;

void sg_sha256_init(sg_sha256_ctx *c);
void sg_sha256_add(sg_sha256_ctx *c, const void *data, size_t len);
/* the digest; c is left initialised again, for a next message */
void sg_sha256_end(sg_sha256_ctx *c, uint8_t out[SG_SHA256_LEN]);
void sg_sha256_bytes(const void *data, size_t len, uint8_t out[SG_SHA256_LEN]);

/* Which compression function is used: "sha-ni" or "portable". For the tests, which check
 * both: sg_sha256_force_portable(true) makes every later call use the portable one. */
const char *sg_sha256_impl(void);
void sg_sha256_force_portable(int on);

#endif
