/* test_sha256.c: our SHA-256 (executor/sha256.c), both compression functions, against
 * FIPS 180-4's examples and against OpenSSL on random messages fed in random pieces. */
#include "tap.h"
#include "sha256.h"
#include "util.h"

#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void hex(const uint8_t md[SG_SHA256_LEN], char out[65])
{
	for (int i = 0; i < SG_SHA256_LEN; i++)
		snprintf(out + 2 * i, 3, "%02x", md[i]);
}

static void check_vector(const char *msg, size_t repeat, const char *want, const char *what)
{
	sg_sha256_ctx c;
	sg_sha256_init(&c);
	for (size_t i = 0; i < repeat; i++)
		sg_sha256_add(&c, msg, strlen(msg));
	uint8_t md[SG_SHA256_LEN];
	char got[65];
	sg_sha256_end(&c, md);
	hex(md, got);
	tap_is_str(got, want, what);
}

static void vectors(const char *impl)
{
	char name[128];
	snprintf(name, sizeof(name), "%s: the empty message", impl);
	check_vector("", 1, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855", name);
	snprintf(name, sizeof(name), "%s: \"abc\" (one block)", impl);
	check_vector("abc", 1, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad", name);
	snprintf(name, sizeof(name), "%s: 448 bits (the padding takes a second block)", impl);
	check_vector("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq", 1,
		     "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1", name);
	snprintf(name, sizeof(name), "%s: 896 bits", impl);
	check_vector("abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmnhijklmnoijklmnopjklmnopqklmnopqrlmnopqrsmnopqrstnopqrstu",
		     1, "cf5b16a778af8380036ce59e7b0492370b249b11e8f07a51afac45037afee9d1", name);
	snprintf(name, sizeof(name), "%s: a million a's, 10 at a time", impl);
	check_vector("aaaaaaaaaa", 100000, "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0", name);
}

/* random messages of every length up to 300 bytes and some long ones, added in random
 * pieces, against OpenSSL */
static void against_openssl(const char *impl)
{
	srand(42);
	size_t bad = 0, tried = 0;
	uint8_t *msg = malloc(70000);
	for (size_t len = 0; len < 70000; len = len < 300 ? len + 1 : len * 2 + 7) {
		for (size_t i = 0; i < len; i++)
			msg[i] = (uint8_t)rand();
		uint8_t want[EVP_MAX_MD_SIZE], got[SG_SHA256_LEN];
		unsigned int wl = 0;
		EVP_Digest(msg, len, want, &wl, EVP_sha256(), NULL);
		sg_sha256_ctx c;
		sg_sha256_init(&c);
		for (size_t at = 0; at < len;) {
			size_t piece = (size_t)rand() % 200;
			if (piece > len - at)
				piece = len - at;
			sg_sha256_add(&c, msg + at, piece);
			at += piece;
		}
		sg_sha256_end(&c, got);
		tried++;
		bad += wl != SG_SHA256_LEN || memcmp(want, got, SG_SHA256_LEN) != 0;
		/* and in one piece, the context reused after its end */
		sg_sha256_add(&c, msg, len);
		sg_sha256_end(&c, got);
		bad += memcmp(want, got, SG_SHA256_LEN) != 0;
	}
	free(msg);
	char name[128];
	snprintf(name, sizeof(name), "%s: %zu random messages in random pieces agree with OpenSSL", impl, tried);
	tap_is_int((long long)bad, 0, name);
}

int main(void)
{
	printf("# this CPU: %s\n", sg_sha256_impl());
	vectors(sg_sha256_impl());
	against_openssl(sg_sha256_impl());
	sg_sha256_force_portable(1);
	tap_is_str(sg_sha256_impl(), "portable", "the portable one can be forced");
	vectors("portable");
	against_openssl("portable");
	return tap_done();
}
