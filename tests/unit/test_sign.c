/* test_sign.c: keys, DSSE envelopes and opening a verdict (executor/sign.c, verify.c).
 *
 * Known answers come from outside shipgate: the DSSE spec's PAE example, RFC 4648's
 * base64 vectors, `ssh-keygen -lf` for the key ids and `openssl pkeyutl` for a
 * signature (tests/data/sign/README.md says how each was made). Every way of tampering
 * with an envelope gets its own case and its own message.
 */
#include "digest.h"
#include "run.h"
#include "sign.h"
#include "tap.h"
#include "util.h"
#include "verify.h"

#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/pem.h>

/* `ssh-keygen -lf tests/data/sign/test.ssh.pub` (that line was built from test.pub with
 * shell tools: see tests/data/sign/README.md); OpenSSH 9.2p1. */
#define TEST_KEYID "SHA256:1iDoQrqgkofdX7iCgiilrPI/DsjGSzcM77nJOFwe77s"
/* `ssh-keygen -lf tests/data/sign/ssh-keygen.pub`, a key that ssh-keygen -t ed25519 made. */
#define SSH_KEYGEN_KEYID "SHA256:rNL+tzwHJ3AqzBMfmQ0bhZ1oYuwbiiSzUrSuVLWF528"
/* printf 'DSSEv1 29 http://example.com/HelloWorld 11 hello world' > pae
 * openssl pkeyutl -sign -inkey tests/data/sign/test.key -rawin -in pae | base64 -w0 */
#define HELLO_SIG "l1prMBUmhvKalJbOb3PCkE0DdZJ+FWHqUbZN7q9C1b3eiGLP+3fAPvgjNQ6u9oXvSB3Hsx01JSMtWfUZe0ayAA=="

static const char *data_dir(void)
{
	const char *d = getenv("SHIPGATE_TEST_DATA");
	return d ? d : SHIPGATE_SOURCE_DIR "/tests/data";
}

static char *data_path(const char *name)
{
	return sg_xasprintf("%s/sign/%s", data_dir(), name);
}

static sg_key *load_data_key(const char *name, bool private_key)
{
	sg_autofree char *path = data_path(name);
	sg_error err = {0};
	sg_key *key = private_key ? sg_key_load_private(path, &err) : sg_key_load_public(path, &err);
	if (!key) {
		fprintf(stderr, "test_sign: setup: %s\n", err.msg);
		exit(99);
	}
	return key;
}

static bool has(const char *msg, const char *needle)
{
	bool ok = strstr(msg, needle) != NULL;
	if (!ok)
		printf("#   message: %s\n#   lacks:   %s\n", msg, needle);
	return ok;
}

/* ---- pure encodings ------------------------------------------------------------------ */

static void test_pae(void)
{
	size_t len = 0;
	sg_autofree unsigned char *pae = sg_dsse_pae("http://example.com/HelloWorld", "hello world", 11, &len);
	const char *want = "DSSEv1 29 http://example.com/HelloWorld 11 hello world";
	tap_ok(len == strlen(want) && !memcmp(pae, want, len), "PAE: the DSSE spec's example");

	sg_autofree unsigned char *empty = sg_dsse_pae("", "", 0, &len);
	tap_ok(len == 12 && !memcmp(empty, "DSSEv1 0  0 ", 12), "PAE: empty type and body");

	const char body[] = {'a', '\0', 'b'};
	sg_autofree unsigned char *bin = sg_dsse_pae("t", body, 3, &len);
	tap_ok(len == 16 && !memcmp(bin, "DSSEv1 1 t 3 a\0b", 16), "PAE: a body with a NUL byte is taken whole");
}

static void test_base64_vectors(void)
{
	/* RFC 4648 section 10 */
	static const char *const plain[] = {"", "f", "fo", "foo", "foob", "fooba", "foobar"};
	static const char *const coded[] = {"", "Zg==", "Zm8=", "Zm9v", "Zm9vYg==", "Zm9vYmE=", "Zm9vYmFy"};
	for (size_t i = 0; i < SG_ARRAY_LEN(plain); i++) {
		sg_autofree char *enc = sg_base64_encode(plain[i], strlen(plain[i]));
		tap_is_str(enc, coded[i], "base64 encode: RFC 4648 vector");
		sg_autofree unsigned char *dec = NULL;
		size_t n = 0;
		sg_error err = {0};
		int rc = sg_base64_decode(coded[i], strlen(coded[i]), &dec, &n, &err);
		tap_ok(rc == 0 && n == strlen(plain[i]) && !memcmp(dec, plain[i], n),
		       "base64 decode: \"%s\"", coded[i]);
	}
}

static void test_base64_roundtrip(void)
{
	unsigned char bytes[256];
	for (size_t i = 0; i < sizeof(bytes); i++)
		bytes[i] = (unsigned char)(255 - i);
	bool ok = true;
	for (size_t len = 0; len <= sizeof(bytes); len++) {
		sg_autofree char *enc = sg_base64_encode(bytes, len);
		sg_autofree unsigned char *dec = NULL;
		size_t n = 0;
		sg_error err = {0};
		if (sg_base64_decode(enc, strlen(enc), &dec, &n, &err) < 0 || n != len || memcmp(dec, bytes, len))
			ok = false;
	}
	tap_ok(ok, "base64: every length 0..256 of every byte value round-trips");
}

static void test_base64_rejects(void)
{
	static const struct {
		const char *text, *why;
	} bad[] = {
		{"Zg=", "multiple of 4"},
		{"Zg", "multiple of 4"},
		{"Zh==", "non-zero padding bits"},
		{"Zm9=", "non-zero padding bits"},
		{"Zg==Zg==", "'=' before the end"},
		{"====", "'=' before the end"},
		{"Z===", "'=' before the end"},
		{"Zm 9", "not in the standard alphabet"},
		{"Zm9v\n", "multiple of 4"},
		{"Zm9\n", "not in the standard alphabet"},
		{"Zm-_", "not in the standard alphabet"},
		{"Zm9v\x80Zm9", "not in the standard alphabet"},
	};
	for (size_t i = 0; i < SG_ARRAY_LEN(bad); i++) {
		unsigned char *dec = NULL;
		size_t n = 0;
		sg_error err = {0};
		int rc = sg_base64_decode(bad[i].text, strlen(bad[i].text), &dec, &n, &err);
		tap_ok(rc < 0 && !dec && err.kind == SG_ERR_INPUT && has(err.msg, bad[i].why),
		       "base64 strict decode rejects case %zu (%s)", i, bad[i].why);
		free(dec);
	}
}

/* ---- keys ---------------------------------------------------------------------------- */

/* The raw key out of an OpenSSH public key line: "ssh-ed25519 BASE64(blob) comment". */
static void raw_key_of_ssh_line(const char *name, unsigned char out[SG_ED25519_KEY_LEN])
{
	sg_autofree char *path = data_path(name);
	sg_autofree char *text = NULL;
	sg_error err = {0};
	if (sg_read_file(path, 4096, &text, NULL, &err) < 0)
		exit(99);
	char *b64 = strchr(text, ' ');
	char *end = b64 ? strchr(b64 + 1, ' ') : NULL;
	sg_autofree unsigned char *blob = NULL;
	size_t n = 0;
	if (!end || sg_base64_decode(b64 + 1, (size_t)(end - b64 - 1), &blob, &n, &err) < 0 || n != 51 ||
	    memcmp(blob, "\0\0\0\x0bssh-ed25519\0\0\0\x20", 19)) {
		fprintf(stderr, "test_sign: setup: %s: not an ssh-ed25519 line\n", path);
		exit(99);
	}
	memcpy(out, blob + 19, SG_ED25519_KEY_LEN);
}

static void test_keyids(void)
{
	sg_key *priv = load_data_key("test.key", true);
	sg_key *pub = load_data_key("test.pub", false);
	tap_is_str(sg_key_id(pub), TEST_KEYID, "keyid of test.pub is what ssh-keygen -lf prints");
	tap_is_str(sg_key_id(priv), TEST_KEYID, "keyid of test.key is that of its public half");
	tap_ok(sg_key_has_private(priv) && !sg_key_has_private(pub), "private and public keys say which they are");

	unsigned char raw[SG_ED25519_KEY_LEN], mine[SG_ED25519_KEY_LEN];
	raw_key_of_ssh_line("test.ssh.pub", raw);
	sg_key_raw_public(pub, mine);
	tap_ok(!memcmp(raw, mine, sizeof(raw)), "test.ssh.pub holds test.pub's key");

	raw_key_of_ssh_line("ssh-keygen.pub", raw);
	char id[SG_KEYID_MAX];
	sg_ssh_ed25519_keyid(raw, id);
	tap_is_str(id, SSH_KEYGEN_KEYID, "keyid of a key ssh-keygen made is its SHA256 fingerprint");
	sg_key_free(priv);
	sg_key_free(pub);
}

static char *pem_of(EVP_PKEY *pkey)
{
	BIO *bio = BIO_new(BIO_s_mem());
	PEM_write_bio_PrivateKey(bio, pkey, NULL, NULL, 0, NULL, NULL);
	char *data = NULL;
	long n = BIO_get_mem_data(bio, &data);
	char *out = sg_xstrndup(data, (size_t)n);
	BIO_free(bio);
	return out;
}

static void expect_pem_error(const char *pem, bool private_key, const char *why, const char *name)
{
	sg_error err = {0};
	sg_key *key = sg_key_from_pem("k.pem", pem, strlen(pem), private_key, &err);
	tap_ok(!key && err.kind == SG_ERR_USAGE && has(err.msg, "k.pem: ") && has(err.msg, why), "%s", name);
	sg_key_free(key);
}

static void test_pem_refusals(void)
{
	sg_autofree char *priv_path = data_path("test.key");
	sg_autofree char *pub_path = data_path("test.pub");
	sg_autofree char *priv = NULL, *pub = NULL, *ssh = NULL;
	sg_autofree char *ssh_path = data_path("ssh-keygen.pub");
	sg_error err = {0};
	if (sg_read_file(priv_path, 4096, &priv, NULL, &err) < 0 || sg_read_file(pub_path, 4096, &pub, NULL, &err) < 0 ||
	    sg_read_file(ssh_path, 4096, &ssh, NULL, &err) < 0)
		exit(99);
	expect_pem_error(pub, true, "a public key where a private key was expected", "PEM: a public key as --key");
	expect_pem_error(priv, false, "a private key where a public key was expected", "PEM: a private key as --pub");
	expect_pem_error(ssh, false, "OpenSSH-format", "PEM: an OpenSSH public key line");
	expect_pem_error("garbage\n", true, "not a PEM PKCS#8 private key", "PEM: garbage");
	expect_pem_error("", false, "not a PEM SPKI public key", "PEM: an empty file");
	expect_pem_error("-----BEGIN ENCRYPTED PRIVATE KEY-----\nAAAA\n-----END ENCRYPTED PRIVATE KEY-----\n", true,
			 "encrypted private key", "PEM: an encrypted key is refused (and never prompts)");
	EVP_PKEY *ec = EVP_EC_gen("P-256");
	sg_autofree char *ec_pem = pem_of(ec);
	EVP_PKEY_free(ec);
	expect_pem_error(ec_pem, true, "key type EC, expected Ed25519", "PEM: an EC key is refused");

	sg_key *missing = sg_key_load_private("/nonexistent/shipgate.key", &err);
	tap_ok(!missing && err.errnum == ENOENT && has(err.msg, "/nonexistent/shipgate.key"),
	       "load: a missing file is named");
	sg_key *dir = sg_key_load_public("/", &err);
	tap_ok(!dir && has(err.msg, "/: not a regular file"), "load: a directory is refused");
}

static char *tmp_dir(void)
{
	char *dir = sg_xstrdup("/tmp/sg-test-sign.XXXXXX");
	if (!mkdtemp(dir))
		exit(99);
	return dir;
}

static mode_t file_mode(const char *path)
{
	struct stat st;
	return lstat(path, &st) == 0 ? st.st_mode & 07777 : (mode_t)-1;
}

static void test_write_pair(void)
{
	sg_autofree char *dir = tmp_dir();
	sg_autofree char *kp = sg_xasprintf("%s/k.key", dir);
	sg_autofree char *pp = sg_xasprintf("%s/k.pub", dir);
	sg_error err = {0};
	sg_key *key = sg_key_generate(&err);
	mode_t old = umask(0);
	int rc = sg_key_write_pair(key, kp, pp, &err);
	umask(old);
	tap_ok(rc == 0, "write pair");
	tap_is_int(file_mode(kp), 0600, "private key file is mode 0600 (even with umask 0)");
	tap_is_int(file_mode(pp), 0644, "public key file is mode 0644");
	sg_key *back = sg_key_load_private(kp, &err);
	sg_key *back_pub = sg_key_load_public(pp, &err);
	tap_ok(back && back_pub && !strcmp(sg_key_id(back), sg_key_id(key)) &&
	       !strcmp(sg_key_id(back_pub), sg_key_id(key)), "the written pair loads back as the same key");

	sg_key *other = sg_key_generate(&err);
	sg_autofree char *before = NULL;
	sg_read_file(kp, 4096, &before, NULL, &err);
	rc = sg_key_write_pair(other, kp, pp, &err);
	sg_autofree char *after = NULL;
	sg_read_file(kp, 4096, &after, NULL, &err);
	tap_ok(rc < 0 && has(err.msg, "k.key already exists: refusing to overwrite") && !strcmp(before, after),
	       "an existing private key is never overwritten");

	sg_autofree char *kp2 = sg_xasprintf("%s/k2.key", dir);
	sg_autofree char *pp2 = sg_xasprintf("%s/k2.pub", dir);
	sg_autofree char *target = sg_xasprintf("%s/target", dir);
	if (symlink(target, kp2) < 0)
		exit(99);
	rc = sg_key_write_pair(other, kp2, pp2, &err);
	tap_ok(rc < 0 && has(err.msg, "already exists") && access(target, F_OK) < 0,
	       "a symlink at the key path is not followed");
	unlink(kp2);
	rc = sg_key_write_pair(other, kp2, pp, &err);
	tap_ok(rc < 0 && has(err.msg, "k.pub already exists") && access(kp2, F_OK) < 0,
	       "an existing .pub is refused before the private key is written");

	sg_key_free(key);
	sg_key_free(back);
	sg_key_free(back_pub);
	sg_key_free(other);
	sg_rm_rf(dir, &err);
}

static void test_load_or_create(void)
{
	sg_autofree char *dir = tmp_dir();
	sg_autofree char *kdir = sg_xasprintf("%s/state/shipgate", dir);
	sg_error err = {0};
	bool created = false;
	sg_autofree char *kp = NULL, *pp = NULL;
	sg_key *a = sg_key_load_or_create(kdir, &created, &kp, &pp, &err);
	tap_ok(a && created && file_mode(kp) == 0600 && file_mode(kdir) == 0700,
	       "default key: created on first use, key 0600 in a 0700 directory");
	sg_key *b = sg_key_load_or_create(kdir, &created, NULL, NULL, &err);
	tap_ok(b && !created && !strcmp(sg_key_id(a), sg_key_id(b)), "default key: loaded the second time");
	unlink(kp);
	sg_key *c = sg_key_load_or_create(kdir, &created, NULL, NULL, &err);
	tap_ok(!c && has(err.msg, "shipgate.pub already exists"),
	       "default key: a .pub without its key is not silently replaced");
	sg_key_free(a);
	sg_key_free(b);
	sg_key_free(c);
	sg_rm_rf(dir, &err);

	setenv("XDG_STATE_HOME", "/x/state", 1);
	sg_autofree char *d1 = sg_key_default_dir(&err);
	setenv("XDG_STATE_HOME", "relative", 1);
	setenv("HOME", "/home/u", 1);
	sg_autofree char *d2 = sg_key_default_dir(&err);
	tap_is_str(d1, "/x/state/shipgate", "default dir: $XDG_STATE_HOME/shipgate");
	tap_is_str(d2, "/home/u/.local/state/shipgate", "default dir: a relative XDG_STATE_HOME is ignored");
}

/* ---- envelopes ----------------------------------------------------------------------- */

static char *sign_text(const sg_key *key, const char *type, const char *payload, size_t *len)
{
	sg_error err = {0};
	char *env = sg_dsse_sign(key, type, payload, strlen(payload), len, &err);
	if (!env) {
		fprintf(stderr, "test_sign: sign: %s\n", err.msg);
		exit(99);
	}
	return env;
}

static void test_sign_known_answer(void)
{
	sg_key *key = load_data_key("test.key", true);
	size_t len = 0;
	sg_autofree char *text = sign_text(key, "http://example.com/HelloWorld", "hello world", &len);
	sg_dsse_envelope env;
	sg_error err = {0};
	int rc = sg_dsse_envelope_parse("env", text, len, &env, &err);
	tap_ok(rc == 0 && env.n_sigs == 1, "sign: one signature");
	sg_autofree char *sig = rc == 0 ? sg_base64_encode(env.sigs[0].sig, env.sigs[0].sig_len) : NULL;
	tap_is_str(sig, HELLO_SIG, "sign: the signature openssl pkeyutl makes over the PAE");
	tap_is_str(rc == 0 ? env.sigs[0].keyid : NULL, TEST_KEYID, "sign: keyid is the key's fingerprint");
	tap_is_str(rc == 0 ? env.payload_type : NULL, "http://example.com/HelloWorld", "sign: payloadType");
	cJSON *json = cJSON_Parse(text);
	tap_is_str(cJSON_GetStringValue(cJSON_GetObjectItem(json, "payload")), "aGVsbG8gd29ybGQ=",
		   "sign: payload is standard base64 of the bytes");
	cJSON_Delete(json);
	if (rc == 0)
		sg_dsse_envelope_free(&env);
	sg_key_free(key);
}

typedef struct keys {
	sg_key *priv, *pub, *other_priv, *other_pub;
} keys;

static unsigned char *verify_text(const keys *k, const char *text, size_t len, size_t *plen, sg_error *err)
{
	return sg_dsse_verify(k->pub, SG_DSSE_INTOTO_TYPE, "v.json", text, len, plen, err);
}

static void test_roundtrip(const keys *k)
{
	const char *payload = "{\"_type\":\"x\"}\n";
	size_t len = 0, plen = 0;
	sg_autofree char *text = sign_text(k->priv, SG_DSSE_INTOTO_TYPE, payload, &len);
	sg_error err = {0};
	sg_autofree unsigned char *got = verify_text(k, text, len, &plen, &err);
	tap_ok(got && plen == strlen(payload) && !memcmp(got, payload, plen), "round trip: the payload comes back");
}

/* Re-serialize an envelope after changing it. */
static char *envelope_text(const sg_dsse_envelope *env, size_t *len);

/* sg_dsse_sign writes the payload's base64 straight into the envelope it prints: the
 * bytes are those of sg_dsse_envelope_json printed, for every padding, for a payload
 * that looks like the envelope's own members, and for a payloadType that does too. */
static void test_envelope_bytes(const keys *k)
{
	const char *payloads[] = {"", "a", "ab", "abc", "abcd", "\"payload\":\t\"\"", "{\"payload\":\t\"\"}\n"};
	const char *types[] = {SG_DSSE_INTOTO_TYPE, "t\"payload\":\t\"\""};
	for (size_t t = 0; t < sizeof(types) / sizeof(types[0]); t++)
		for (size_t i = 0; i < sizeof(payloads) / sizeof(payloads[0]); i++) {
			size_t len = 0, want_len = 0;
			sg_autofree char *text = sign_text(k->priv, types[t], payloads[i], &len);
			sg_dsse_envelope env;
			sg_error err = {0};
			bool parsed = sg_dsse_envelope_parse("env", text, len, &env, &err) == 0;
			sg_autofree char *want = parsed ? envelope_text(&env, &want_len) : NULL;
			tap_ok(parsed && len == want_len + 1 && !memcmp(text, want, want_len) && text[want_len] == '\n' &&
				       strlen(text) == len && env.payload_len == strlen(payloads[i]) &&
				       !memcmp(env.payload, payloads[i], env.payload_len) &&
				       !strcmp(env.payload_type, types[t]),
			       "envelope: the bytes sg_dsse_envelope_json prints, payload %zu of type %zu", i, t);
			if (parsed)
				sg_dsse_envelope_free(&env);
		}
}

/* sg_dsse_sign_to_file writes the bytes sg_dsse_sign returns, the payload's base64 in
 * pieces of 48 KiB: sizes around a piece's end, and the file's digest. */
static void test_sign_to_file(const keys *k)
{
	char tmpl[] = "/tmp/sg-test-sign-XXXXXX";
	char *dir = mkdtemp(tmpl);
	sg_autofree char *path = sg_xasprintf("%s/verdict.dsse.json", dir ? dir : "/nonexistent");
	const size_t sizes[] = {0, 1, 2, 3, 49151, 49152, 49153, 3 * 49152 + 2, 300000};
	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		sg_autofree char *payload = sg_xmalloc(sizes[i] + 1);
		for (size_t j = 0; j < sizes[i]; j++)
			payload[j] = (char)(' ' + (j * 7 + i) % 90);
		payload[sizes[i]] = '\0';
		size_t len = 0, got_len = 0;
		sg_error err = {0};
		sg_autofree char *want = sg_dsse_sign(k->priv, SG_DSSE_INTOTO_TYPE, payload, sizes[i], &len, &err);
		char hex[SG_SHA256_HEX_LEN] = "", want_hex[SG_SHA256_HEX_LEN] = "";
		int rc = sg_dsse_sign_to_file(k->priv, SG_DSSE_INTOTO_TYPE, payload, sizes[i], path, hex, &err);
		sg_autofree char *got = NULL;
		if (rc == 0)
			sg_read_file(path, 1u << 20, &got, &got_len, &err);
		if (want)
			sg_sha256_hex(want, len, want_hex);
		tap_ok(want && got && got_len == len && !memcmp(got, want, len) && !strcmp(hex, want_hex),
		       "sign to a file: the bytes of sg_dsse_sign and their digest, payload of %zu bytes", sizes[i]);
		/* and from a file of the payload (in this process: read whole for libcrypto) */
		int fd = memfd_create("payload", MFD_CLOEXEC);
		char fd_hex[SG_SHA256_HEX_LEN] = "";
		sg_autofree char *from_fd = NULL;
		size_t fd_len = 0;
		if (fd >= 0 && sg_write_all(fd, payload, sizes[i]) == 0 &&
		    sg_dsse_sign_fd_to_file(k->priv, SG_DSSE_INTOTO_TYPE, fd, sizes[i], path, fd_hex, &err) == 0)
			sg_read_file(path, 1u << 20, &from_fd, &fd_len, &err);
		if (fd >= 0)
			close(fd);
		tap_ok(want && from_fd && fd_len == len && !memcmp(from_fd, want, len) && !strcmp(fd_hex, want_hex),
		       "sign a file's payload: the same bytes and digest, payload of %zu bytes", sizes[i]);
	}
	sg_error err = {0};
	char hex[SG_SHA256_HEX_LEN];
	sg_autofree char *bad = sg_xasprintf("%s/missing/verdict.dsse.json", dir ? dir : "/nonexistent");
	tap_ok(sg_dsse_sign_to_file(k->priv, SG_DSSE_INTOTO_TYPE, "x", 1, bad, hex, &err) < 0 &&
		       has(err.msg, "missing/verdict.dsse.json.tmp"),
	       "sign to a file: a directory that is not there is named");
	sg_autofree char *leftover = sg_xasprintf("rm -rf %s", dir ? dir : "/nonexistent");
	if (system(leftover) != 0)
		tap_ok(false, "cleanup");
}

/* Re-serialize an envelope after changing it. */
static char *envelope_text(const sg_dsse_envelope *env, size_t *len)
{
	cJSON *json = sg_dsse_envelope_json(env);
	char *text = cJSON_Print(json);
	cJSON_Delete(json);
	*len = strlen(text);
	return text;
}

static void expect_rejected(const keys *k, const char *text, size_t len, sg_error_kind kind,
			    const char *why, const char *name)
{
	size_t plen = 0;
	sg_error err = {0};
	unsigned char *got = verify_text(k, text, len, &plen, &err);
	tap_ok(!got && err.kind == kind && has(err.msg, "v.json: ") && has(err.msg, why), "%s", name);
	free(got);
}

static void add_signature(sg_dsse_envelope *env, const sg_key *key, const char *keyid)
{
	size_t len = 0;
	sg_autofree char *signed_text = NULL;
	sg_error err = {0};
	signed_text = sg_dsse_sign(key, env->payload_type, env->payload, env->payload_len, &len, &err);
	sg_dsse_envelope other;
	if (!signed_text || sg_dsse_envelope_parse("o", signed_text, len, &other, &err) < 0)
		exit(99);
	env->sigs = sg_xrealloc(env->sigs, (env->n_sigs + 1) * sizeof(*env->sigs));
	env->sigs[env->n_sigs] = other.sigs[0];
	if (keyid) {
		free(env->sigs[env->n_sigs].keyid);
		env->sigs[env->n_sigs].keyid = sg_xstrdup(keyid);
	}
	env->n_sigs++;
	other.n_sigs = 0;
	sg_dsse_envelope_free(&other);
}

static void test_tampering(const keys *k)
{
	size_t len = 0, tlen = 0;
	sg_autofree char *text = sign_text(k->priv, SG_DSSE_INTOTO_TYPE, "{\"result\":\"FAILED\"}", &len);
	sg_dsse_envelope env;
	sg_error err = {0};
	if (sg_dsse_envelope_parse("v.json", text, len, &env, &err) < 0)
		exit(99);

	env.payload[12] ^= 0x01;
	sg_autofree char *t1 = envelope_text(&env, &tlen);
	expect_rejected(k, t1, tlen, SG_ERR_VERIFY, "bad signature: the signature by the trusted key",
			"tamper: a flipped payload byte is a bad signature");
	env.payload[12] ^= 0x01;

	env.sigs[0].sig[5] ^= 0x80;
	sg_autofree char *t2 = envelope_text(&env, &tlen);
	expect_rejected(k, t2, tlen, SG_ERR_VERIFY, "bad signature", "tamper: a flipped signature byte is a bad signature");
	env.sigs[0].sig[5] ^= 0x80;

	char *type = env.payload_type;
	env.payload_type = (char *)"application/json";
	sg_autofree char *t3 = envelope_text(&env, &tlen);
	expect_rejected(k, t3, tlen, SG_ERR_VERIFY,
			"payloadType is \"application/json\", expected \"application/vnd.in-toto+json\"",
			"tamper: another payloadType is refused by name");
	env.payload_type = type;

	sg_dsse_sig *saved = env.sigs;
	size_t n_saved = env.n_sigs;
	env.sigs = NULL;
	env.n_sigs = 0;
	sg_autofree char *t4 = envelope_text(&env, &tlen);
	expect_rejected(k, t4, tlen, SG_ERR_VERIFY, "no signature by the trusted key " TEST_KEYID
			" (the envelope has no signatures)", "tamper: signatures removed");
	env.sigs = saved;
	env.n_sigs = n_saved;

	/* another key's signature beside the trusted one: ignored */
	add_signature(&env, k->other_priv, NULL);
	sg_autofree char *t5 = envelope_text(&env, &tlen);
	size_t plen = 0;
	sg_autofree unsigned char *ok = verify_text(k, t5, tlen, &plen, &err);
	tap_ok(ok != NULL, "a second signature by another key is ignored when the trusted one verifies");

	/* the payload changed and signed again by another key: the trusted signature fails */
	sg_dsse_envelope_free(&env);
	if (sg_dsse_envelope_parse("v.json", text, len, &env, &err) < 0)
		exit(99);
	memcpy(env.payload + 11, "PASSED", 6);
	add_signature(&env, k->other_priv, NULL);
	sg_autofree char *t6 = envelope_text(&env, &tlen);
	expect_rejected(k, t6, tlen, SG_ERR_VERIFY, "bad signature",
			"tamper: a changed payload re-signed by another key beside the original");

	/* another key's signature labelled with the trusted key id */
	free(env.sigs[0].keyid);
	env.sigs[0].keyid = sg_xstrdup("SHA256:someone-else");
	free(env.sigs[1].keyid);
	env.sigs[1].keyid = sg_xstrdup(TEST_KEYID);
	sg_autofree char *t7 = envelope_text(&env, &tlen);
	expect_rejected(k, t7, tlen, SG_ERR_VERIFY, "bad signature", "tamper: another key's signature under the trusted keyid");
	sg_dsse_envelope_free(&env);

	size_t ulen = 0;
	sg_autofree char *untrusted = sign_text(k->other_priv, SG_DSSE_INTOTO_TYPE, "{}", &ulen);
	char want[160];
	snprintf(want, sizeof(want), "no signature by the trusted key %s (signed by %s)", TEST_KEYID,
		 sg_key_id(k->other_pub));
	expect_rejected(k, untrusted, ulen, SG_ERR_VERIFY, want, "tamper: signed by an untrusted key");
}

static void test_envelope_malformed(const keys *k)
{
	static const struct {
		const char *text, *why;
	} bad[] = {
		{"", "invalid JSON at byte 0"},
		{"{\"payloadType\":", "invalid JSON"},
		{"{} x", "invalid JSON at byte 3"},
		{"[]", "expected a JSON object (a DSSE envelope)"},
		{"{\"payload\":\"\",\"signatures\":[]}", "payloadType: missing"},
		{"{\"payloadType\":1,\"payload\":\"\",\"signatures\":[]}", "payloadType: expected a string"},
		{"{\"payloadType\":\"t\",\"signatures\":[]}", "payload: missing"},
		{"{\"payloadType\":\"t\",\"payload\":[],\"signatures\":[]}", "payload: expected a base64 string"},
		{"{\"payloadType\":\"t\",\"payload\":\"e30\",\"signatures\":[]}", "payload: invalid base64"},
		{"{\"payloadType\":\"t\",\"payload\":\"\"}", "signatures: missing"},
		{"{\"payloadType\":\"t\",\"payload\":\"\",\"signatures\":{}}", "signatures: expected an array"},
		{"{\"payloadType\":\"t\",\"payload\":\"\",\"signatures\":[1]}", "signatures[0]: expected an object"},
		{"{\"payloadType\":\"t\",\"payload\":\"\",\"signatures\":[{\"keyid\":\"k\"}]}", "signatures[0].sig: missing"},
		{"{\"payloadType\":\"t\",\"payload\":\"\",\"signatures\":[{\"sig\":\"\",\"keyid\":7}]}",
		 "signatures[0].keyid: expected a string"},
		{"{\"payloadType\":\"t\",\"payload\":\"\",\"signatures\":[{\"sig\":\"A\"}]}", "signatures[0].sig: invalid base64"},
		{"{\"payloadType\":\"t\",\"payload\":\"\",\"signatures\":[],\"extra\":1}", "unknown key"},
		{"{\"payloadType\":\"t\",\"payload\":\"\",\"payload\":\"\",\"signatures\":[]}", "payload: duplicate key"},
		{"{\"payloadType\":\"t\",\"payload\":\"\",\"signatures\":[{\"sig\":\"\",\"sig\":\"\"}]}",
		 "signatures[0].sig: duplicate key"},
	};
	for (size_t i = 0; i < SG_ARRAY_LEN(bad); i++)
		expect_rejected(k, bad[i].text, strlen(bad[i].text), SG_ERR_INPUT, bad[i].why, bad[i].why);
	const char nul[] = "{\"payloadType\":\"t\"\0}";
	expect_rejected(k, nul, sizeof(nul) - 1, SG_ERR_INPUT, "NUL byte", "an envelope with a NUL byte");
	const char esc_nul[] = "{\"payloadType\":\"t\\u0000x\",\"payload\":\"\",\"signatures\":[]}";
	expect_rejected(k, esc_nul, sizeof(esc_nul) - 1, SG_ERR_INPUT, "\\u0000", "an envelope with \\u0000 in a string");
	sg_error jerr = {0};
	const char *esc_text = "{\"a\":\"\\\\u0000\"}";
	cJSON *esc_ok = sg_json_parse_exact("x", esc_text, strlen(esc_text), &jerr);
	tap_ok(esc_ok != NULL, "an escaped backslash before u0000 is not \\u0000");
	cJSON_Delete(esc_ok);
	const char *st_text = "{\"result\":\"PASSED\\u0000FAILED\"}";
	cJSON *st_nul = sg_json_parse_exact("x", st_text, strlen(st_text), &jerr);
	tap_ok(st_nul == NULL && strstr(jerr.msg, "u0000"), "a statement with \\u0000 is refused");
	cJSON_Delete(st_nul);

	/* unknown keys inside a signature are ignored: only the PAE is signed */
	size_t len = 0, plen = 0;
	sg_autofree char *text = sign_text(k->priv, SG_DSSE_INTOTO_TYPE, "{}", &len);
	cJSON *json = cJSON_Parse(text);
	cJSON_AddStringToObject(cJSON_GetArrayItem(cJSON_GetObjectItem(json, "signatures"), 0), "cert", "x");
	sg_autofree char *with_cert = cJSON_PrintUnformatted(json);
	cJSON_Delete(json);
	sg_error err = {0};
	sg_autofree unsigned char *got = verify_text(k, with_cert, strlen(with_cert), &plen, &err);
	tap_ok(got != NULL, "an unknown key inside a signature is ignored");
}

/* ---- statements and verdict files ---------------------------------------------------- */

#define GOOD_SHA "bec66ec881fd566e3c76a8f8533187dbd9729b8bb384868082dc603acceb0af3"
#define STATEMENT(type, ptype, subject, pred)                                                    \
	"{\"_type\":\"" type "\",\"subject\":" subject ",\"predicateType\":\"" ptype                \
	"\",\"predicate\":" pred "}"
#define GOOD_SUBJECT "[{\"name\":\"workspace\",\"digest\":{\"sha256\":\"" GOOD_SHA "\"}}]"
#define GOOD_PRED "{\"result\":\"FAILED\",\"subject_excludes\":[\".git\",\".shipgate\",\"out\"]}"

static void test_statement(void)
{
	const char *good = STATEMENT(SG_STATEMENT_TYPE, SG_PREDICATE_TYPE, GOOD_SUBJECT, GOOD_PRED);
	sg_verdict v = {0};
	sg_error err = {0};
	int rc = sg_verdict_parse_statement("p", good, strlen(good), &v, &err);
	tap_ok(rc == 0 && !strcmp(v.result, "FAILED") && !strcmp(v.subject_sha256, GOOD_SHA),
	       "statement: result and subject");
	tap_ok(rc == 0 && v.excludes[0] && !strcmp(v.excludes[0], "out") && !v.excludes[1],
	       "statement: .git and .shipgate are dropped from the excludes, the rest kept");
	sg_verdict_free(&v);

	static const struct {
		const char *text, *why;
	} bad[] = {
		{"[]", "expected a JSON object"},
		{STATEMENT("https://in-toto.io/Statement/v0.1", SG_PREDICATE_TYPE, GOOD_SUBJECT, GOOD_PRED),
		 "_type: expected \"https://in-toto.io/Statement/v1\""},
		{STATEMENT(SG_STATEMENT_TYPE, "https://slsa.dev/provenance/v1", GOOD_SUBJECT, GOOD_PRED),
		 "predicateType: expected \"" SG_PREDICATE_TYPE "\""},
		{STATEMENT(SG_STATEMENT_TYPE, SG_PREDICATE_TYPE, "[]", GOOD_PRED), "subject: expected an array of one"},
		{STATEMENT(SG_STATEMENT_TYPE, SG_PREDICATE_TYPE, "[{\"name\":\"src\",\"digest\":{}}]", GOOD_PRED),
		 "subject[0].name: expected \"workspace\""},
		{STATEMENT(SG_STATEMENT_TYPE, SG_PREDICATE_TYPE, "[{\"name\":\"workspace\",\"digest\":{\"sha256\":\"ABC\"}}]",
			   GOOD_PRED),
		 "subject[0].digest.sha256: expected 64 lower-case hex digits"},
		{STATEMENT(SG_STATEMENT_TYPE, SG_PREDICATE_TYPE, GOOD_SUBJECT, "{\"result\":\"OK\",\"subject_excludes\":[]}"),
		 "predicate.result: expected PASSED, FAILED or ERROR"},
		{STATEMENT(SG_STATEMENT_TYPE, SG_PREDICATE_TYPE, GOOD_SUBJECT, "{\"result\":\"PASSED\"}"),
		 "predicate.subject_excludes: expected an array"},
		{STATEMENT(SG_STATEMENT_TYPE, SG_PREDICATE_TYPE, GOOD_SUBJECT,
			   "{\"result\":\"PASSED\",\"subject_excludes\":[3]}"),
		 "predicate.subject_excludes[0]: expected a non-empty string"},
		{STATEMENT(SG_STATEMENT_TYPE, SG_PREDICATE_TYPE, GOOD_SUBJECT,
			   "{\"result\":\"PASSED\",\"result\":\"FAILED\",\"subject_excludes\":[]}"),
		 "duplicate key \"result\""},
	};
	for (size_t i = 0; i < SG_ARRAY_LEN(bad); i++) {
		rc = sg_verdict_parse_statement("p", bad[i].text, strlen(bad[i].text), &v, &err);
		tap_ok(rc < 0 && err.kind == SG_ERR_INPUT && has(err.msg, "p: ") && has(err.msg, bad[i].why),
		       "statement: %s", bad[i].why);
	}
}

static void test_verdict_file(const keys *k)
{
	sg_autofree char *dir = tmp_dir();
	sg_autofree char *path = sg_xasprintf("%s/verdict.dsse.json", dir);
	const char *st = STATEMENT(SG_STATEMENT_TYPE, SG_PREDICATE_TYPE,
				   "[{\"name\":\"workspace\",\"digest\":{\"sha256\":"
				   "\"de81c5401167a90976e25de57c176c874ec1b20c1168d32f949d82889c0bd30e\"}}]",
				   "{\"result\":\"PASSED\",\"subject_excludes\":[\".git\",\".shipgate\"]}");
	size_t len = 0;
	sg_autofree char *text = sign_text(k->priv, SG_DSSE_INTOTO_TYPE, st, &len);
	sg_error err = {0};
	if (sg_write_file_atomic(path, text, len, 0644, &err) < 0)
		exit(99);
	sg_verdict v;
	int rc = sg_verdict_open(path, k->pub, &v, &err);
	tap_ok(rc == 0 && !strcmp(v.keyid, TEST_KEYID) && !strcmp(v.result, "PASSED"), "verdict file: opens");
	/* the subject above is the digest of an empty tree (docs/digest.md) */
	sg_autofree char *ws = sg_xasprintf("%s/ws", dir);
	mkdir(ws, 0755);
	char now[SG_SHA256_HEX_LEN];
	tap_ok(rc == 0 && sg_verdict_check_workspace(&v, ws, now, &err) == 0, "verdict file: empty workspace matches");
	sg_autofree char *file = sg_xasprintf("%s/new", ws);
	sg_write_file_atomic(file, "x", 1, 0644, &err);
	rc = rc == 0 ? sg_verdict_check_workspace(&v, ws, now, &err) : 0;
	tap_ok(rc < 0 && err.kind == SG_ERR_VERIFY && has(err.msg, "subject mismatch"), "verdict file: an added file is a mismatch");
	sg_verdict_free(&v);

	rc = sg_verdict_open(path, k->other_pub, &v, &err);
	tap_ok(rc < 0 && err.kind == SG_ERR_VERIFY && has(err.msg, "no signature by the trusted key"),
	       "verdict file: another trusted key refuses it");
	sg_autofree char *missing = sg_xasprintf("%s/none.json", dir);
	rc = sg_verdict_open(missing, k->pub, &v, &err);
	tap_ok(rc < 0 && err.kind == SG_ERR_INPUT && has(err.msg, "none.json"), "verdict file: a missing file is named");
	sg_rm_rf(dir, &err);
}

int main(void)
{
	test_pae();
	test_base64_vectors();
	test_base64_roundtrip();
	test_base64_rejects();
	test_keyids();
	test_pem_refusals();
	test_write_pair();
	test_sign_known_answer();

	keys k = {.priv = load_data_key("test.key", true), .pub = load_data_key("test.pub", false),
		  .other_priv = load_data_key("other.key", true), .other_pub = load_data_key("other.pub", false)};
	test_roundtrip(&k);
	test_envelope_bytes(&k);
	test_sign_to_file(&k);
	test_tampering(&k);
	test_envelope_malformed(&k);
	test_statement();
	test_verdict_file(&k);
	sg_key_free(k.priv);
	sg_key_free(k.pub);
	sg_key_free(k.other_priv);
	sg_key_free(k.other_pub);
	test_load_or_create(); /* last: it changes HOME and XDG_STATE_HOME */
	return tap_done();
}
