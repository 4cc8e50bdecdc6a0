/* test_sign_child.c: private keys held by a signer process (sg_key_crypto_in_child,
 * executor/sign.c), as `shipgate run` uses them: this process never loads libcrypto
 * through shipgate (sg_crypto_loaded stays 0); children read, make and sign. What they
 * produce must be what the key signs in-process: the same signature, the same key id,
 * the same refusals; a signer ends with its key, and a dead one is an error, not a
 * hang. A process of its own, because test_sign loads libcrypto at once. */
#include "sign.h"
#include "crypto.h"
#include "tap.h"
#include "util.h"

#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <time.h>

/* as in test_sign.c: `ssh-keygen -lf tests/data/sign/test.ssh.pub`, and the signature
 * `openssl pkeyutl -sign -inkey tests/data/sign/test.key -rawin` makes over the PAE of
 * "hello world" typed http://example.com/HelloWorld */
#define TEST_KEYID "SHA256:1iDoQrqgkofdX7iCgiilrPI/DsjGSzcM77nJOFwe77s"
#define HELLO_SIG "l1prMBUmhvKalJbOb3PCkE0DdZJ+FWHqUbZN7q9C1b3eiGLP+3fAPvgjNQ6u9oXvSB3Hsx01JSMtWfUZe0ayAA=="

static char *read_data(const char *name, size_t *len)
{
	const char *d = getenv("SHIPGATE_TEST_DATA");
	sg_autofree char *path = sg_xasprintf("%s/sign/%s", d ? d : SHIPGATE_SOURCE_DIR "/tests/data", name);
	char *text = NULL;
	if (sg_read_file(path, 1 << 16, &text, len, NULL) < 0) {
		fprintf(stderr, "test_sign_child: setup: cannot read %s\n", path);
		exit(99);
	}
	return text;
}

/* the signature and keyid of an envelope over "hello world" */
static void sign_hello(const sg_key *key, char **sig, char **keyid)
{
	*sig = *keyid = NULL;
	size_t len = 0;
	sg_error err = {0};
	sg_autofree char *text = sg_dsse_sign(key, "http://example.com/HelloWorld", "hello world", 11, &len, &err);
	sg_dsse_envelope env;
	if (!text || sg_dsse_envelope_parse("env", text, len, &env, &err) < 0 || env.n_sigs != 1) {
		printf("# sign: %s\n", err.msg);
		return;
	}
	*sig = sg_base64_encode(env.sigs[0].sig, env.sigs[0].sig_len);
	*keyid = env.sigs[0].keyid ? sg_xstrdup(env.sigs[0].keyid) : NULL;
	sg_dsse_envelope_free(&env);
}

static void check_signs(const char *what, const char *pem, size_t len)
{
	sg_error err = {0};
	sg_key *key = sg_key_from_pem(what, pem, len, true, &err);
	tap_ok(key != NULL, "%s: read (%s)", what, key ? "ok" : err.msg);
	if (!key)
		return;
	sg_autofree char *sig = NULL, *keyid = NULL;
	sign_hello(key, &sig, &keyid);
	tap_is_str(sig, HELLO_SIG, "... its signature is the one openssl pkeyutl makes");
	tap_is_str(keyid, TEST_KEYID, "... and names the key by its fingerprint");
	tap_is_str(sg_key_id(key), TEST_KEYID, "... which the key now says too");
	sg_key_free(key);
}

/* A payload in a file, signed through the signer in pieces (what `run` does with its
 * statement): the envelope is the one sg_dsse_sign makes of the same bytes, for sizes
 * around the pieces' end. */
static void check_signs_from_file(const char *pem, size_t len)
{
	sg_error err = {0};
	sg_key *key = sg_key_from_pem("test.key", pem, len, true, &err);
	char tmpl[] = "/tmp/sg-test-sign-child-XXXXXX";
	char *dir = mkdtemp(tmpl);
	const size_t sizes[] = {0, 11, 49152, 49153, 200001};
	for (size_t i = 0; key && dir && i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		sg_autofree char *payload = sg_xmalloc(sizes[i] + 1);
		for (size_t j = 0; j < sizes[i]; j++)
			payload[j] = (char)('a' + (j * 13 + i) % 26);
		int fd = memfd_create("payload", MFD_CLOEXEC);
		bool wrote = fd >= 0 && sg_write_all(fd, payload, sizes[i]) == 0;
		sg_autofree char *path = sg_xasprintf("%s/v.json", dir);
		char hex[65] = "";
		int rc = wrote ? sg_dsse_sign_fd_to_file(key, "t", fd, sizes[i], path, hex, &err) : -1;
		if (fd >= 0)
			close(fd);
		size_t want_len = 0, got_len = 0;
		sg_autofree char *want = sg_dsse_sign(key, "t", payload, sizes[i], &want_len, &err);
		sg_autofree char *got = NULL;
		if (rc == 0)
			sg_read_file(path, 1 << 20, &got, &got_len, NULL);
		tap_ok(want && got && got_len == want_len && !memcmp(got, want, want_len),
		       "a payload of %zu bytes in a file, signed by the signer in pieces: the same envelope", sizes[i]);
	}
	if (dir) {
		sg_autofree char *path = sg_xasprintf("%s/v.json", dir);
		unlink(path);
		rmdir(dir);
	}
	sg_key_free(key);
}

/* A signer-held key checks its own envelopes through its signer (what `loop` does with
 * each verdict): a good one passes, a changed payload or signature does not. */
static void check_verifies(const char *pem, size_t len)
{
	sg_error err = {0};
	sg_key *key = sg_key_from_pem("test.key", pem, len, true, &err);
	const char *payload = "{\"_type\":\"x\"}\n";
	size_t env_len = 0, plen = 0;
	sg_autofree char *env = key ? sg_dsse_sign(key, "t", payload, strlen(payload), &env_len, &err) : NULL;
	sg_autofree unsigned char *got = env ? sg_dsse_verify(key, "t", "v.json", env, env_len, &plen, &err) : NULL;
	tap_ok(got && plen == strlen(payload) && !memcmp(got, payload, plen), "verify by the signer: its own envelope passes");
	sg_dsse_envelope e;
	if (env && sg_dsse_envelope_parse("v.json", env, env_len, &e, &err) == 0) {
		e.payload[2] ^= 1; /* another payload under the same signature */
		cJSON *j = sg_dsse_envelope_json(&e);
		sg_autofree char *bad = cJSON_PrintUnformatted(j);
		cJSON_Delete(j);
		sg_error e1 = {0};
		unsigned char *p1 = sg_dsse_verify(key, "t", "v.json", bad, strlen(bad), &plen, &e1);
		tap_ok(!p1 && strstr(e1.msg, "does not match"), "verify by the signer: a changed payload is refused (%s)", e1.msg);
		free(p1);
		e.payload[2] ^= 1;
		e.sigs[0].sig[5] ^= 1; /* the payload back, the signature changed */
		j = sg_dsse_envelope_json(&e);
		sg_autofree char *bad2 = cJSON_PrintUnformatted(j);
		cJSON_Delete(j);
		sg_error e2 = {0};
		unsigned char *p2 = sg_dsse_verify(key, "t", "v.json", bad2, strlen(bad2), &plen, &e2);
		tap_ok(!p2 && strstr(e2.msg, "does not match"), "verify by the signer: a changed signature is refused");
		free(p2);
		sg_dsse_envelope_free(&e);
	} else {
		tap_ok(false, "verify by the signer: the envelope parses");
	}
	sg_key_free(key);
}

/* the message a refused text gets, from a signer or in this process */
static char *refusal(const char *pem, bool in_child)
{
	sg_key_crypto_in_child(in_child);
	sg_error err = {0};
	sg_key *key = sg_key_from_pem("k.pem", pem, strlen(pem), true, &err);
	sg_key_crypto_in_child(true);
	sg_key_free(key);
	return key ? sg_xstrdup("(accepted)") : sg_xasprintf("%d %s", (int)err.kind, err.msg);
}

int main(void)
{
	sg_key_crypto_in_child(true);
	size_t len = 0;
	sg_autofree char *pem = read_data("test.key", &len);

	/* the layout keygen writes: read and signed by the signer */
	check_signs("the plain layout", pem, len);
	check_signs_from_file(pem, len);
	sg_error err = {0};
	sg_key *key = sg_key_from_pem("test.key", pem, len, true, &err);
	tap_is_str(key ? sg_key_id(key) : NULL, TEST_KEYID, "the id is known before any signature (the signer sent it)");
	size_t priv_len = 0;
	char *priv = key ? sg_key_private_pem(key, &priv_len, &err) : NULL;
	tap_ok(!priv && err.kind == SG_ERR_USAGE, "the private PEM stays with the signer (%s)", err.msg);
	sg_key_free(key);
	tap_ok(waitpid(-1, NULL, WNOHANG) < 0 && errno == ECHILD, "freeing the key ends and reaps its signer");

	/* a signer that died: the signature is an error that says so */
	key = sg_key_from_pem("test.key", pem, len, true, &err);
	pid_t signer = -1;
	char kids[64] = "";
	FILE *f = fopen("/proc/thread-self/children", "r");
	if (f && fgets(kids, sizeof(kids), f))
		signer = (pid_t)atoi(kids);
	if (f)
		fclose(f);
	char comm[64] = "";
	sg_autofree char *comm_path = sg_xasprintf("/proc/%d/comm", (int)signer);
	f = fopen(comm_path, "r");
	if (f && fgets(comm, sizeof(comm), f))
		comm[strcspn(comm, "\n")] = '\0';
	if (f)
		fclose(f);
	tap_is_str(comm, "shipgate-signer", "the signer is our one child, and its name says what it is");
	if (key && signer > 0)
		kill(signer, SIGTERM);
	struct timespec pause = {0, 100 * 1000 * 1000};
	nanosleep(&pause, NULL);
	tap_ok(key && signer > 0 && waitpid(signer, NULL, WNOHANG) == 0,
	       "it outlives a SIGTERM (a signal to the process group is the supervisor's)");
	tap_ok(kill(signer, SIGKILL) == 0, "... not a SIGKILL");
	size_t env_len = 0;
	memset(&err, 0, sizeof(err));
	char *env = key ? sg_dsse_sign(key, "t", "x", 1, &env_len, &err) : NULL;
	tap_ok(!env && strstr(err.msg, "signer process was killed by SIGKILL"), "signing then fails, and says why (%s)",
	       err.msg);
	free(env);
	sg_key_free(key);

	/* other layouts libcrypto reads: signed the same */
	sg_autofree char *crlf = sg_xmalloc(2 * len + 1);
	size_t n = 0;
	for (size_t i = 0; i < len; i++) {
		if (pem[i] == '\n')
			crlf[n++] = '\r';
		crlf[n++] = pem[i];
	}
	check_signs("CRLF line ends", crlf, n);
	sg_autofree char *commented = sg_xasprintf("a comment before the key\n%s", pem);
	check_signs("text before the key", commented, strlen(commented));

	/* refusals: the same kind and message as in this process */
	size_t pub_len = 0;
	sg_autofree char *pub = read_data("test.pub", &pub_len);
	sg_autofree char *enc = sg_xstrdup("-----BEGIN ENCRYPTED PRIVATE KEY-----\nMIGbMFcGCSqGSIb3DQEFDTBKMCkGCSqGSIb3DQEFDDAcBAg=\n-----END ENCRYPTED PRIVATE KEY-----\n");
	/* a plain-looking block whose DER is not an Ed25519 key: the prefix differs */
	sg_autofree char *x448 = sg_xstrdup("-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VxBCIEIAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\n-----END PRIVATE KEY-----\n");
	const char *texts[] = {pub, enc, "garbage\n", "", x448};
	const char *names[] = {"a public key", "an encrypted key", "no PEM", "nothing", "a PKCS#8 key of another curve"};
	char *child[SG_ARRAY_LEN(texts)];
	for (size_t i = 0; i < SG_ARRAY_LEN(texts); i++)
		child[i] = refusal(texts[i], true);

	/* the default key, made on first use by a child */
	char dir[] = "/tmp/sg-sign-child.XXXXXX";
	tap_ok(mkdtemp(dir) != NULL, "a directory for the default key");
	sg_autofree char *kdir = sg_xasprintf("%s/state", dir);
	bool created = false;
	sg_autofree char *kp = NULL, *pp = NULL;
	key = sg_key_load_or_create(kdir, &created, &kp, &pp, &err);
	tap_ok(key && created, "made on first use (%s)", key ? "ok" : err.msg);
	struct stat st;
	tap_ok(kp && stat(kp, &st) == 0 && (st.st_mode & 0777) == 0600, "... the private key written 0600");
	char made_id[SG_KEYID_MAX] = "";
	if (key)
		snprintf(made_id, sizeof(made_id), "%s", sg_key_id(key));
	sg_key_free(key);
	check_verifies(pem, len);
	tap_ok(sg_crypto_loaded() == 0, "all of the above without loading libcrypto here");

	for (size_t i = 0; i < SG_ARRAY_LEN(texts); i++) {
		sg_autofree char *here = refusal(texts[i], false);
		tap_ok(strcmp(here, "(accepted)") && !strcmp(here, child[i]), "%s: refused as in this process (%s)",
		       names[i], child[i]);
		free(child[i]);
	}

	/* a signer killed between a signature and its check (by a process of the same user):
	 * the key says it is gone, and the check is made here, not failed as if tampered */
	key = sg_key_from_pem("test.key", pem, len, true, &err);
	size_t vlen = 0, plen = 0;
	sg_autofree char *venv = key ? sg_dsse_sign(key, "t", "x", 1, &vlen, &err) : NULL;
	tap_ok(key && !sg_key_signer_gone(key), "a live signer is not gone");
	if (key && sg_key_signer_pid(key) > 0)
		kill(sg_key_signer_pid(key), SIGKILL);
	nanosleep(&pause, NULL);
	tap_ok(key && sg_key_signer_gone(key), "a killed signer is gone");
	sg_autofree unsigned char *vgot = venv ? sg_dsse_verify(key, "t", "v.json", venv, vlen, &plen, &err) : NULL;
	tap_ok(vgot && plen == 1, "its envelope still verifies, here (%s)", vgot ? "ok" : err.msg);
	sg_key_free(key);

	/* in this process after all (PEM out, verify): libcrypto is loaded, the key is the same */
	sg_key *made_pub = pp ? sg_key_load_public(pp, &err) : NULL;
	tap_is_str(made_pub ? sg_key_id(made_pub) : NULL, made_id, "the key made is the one whose public half was written");
	sg_key_free(made_pub);
	key = sg_key_from_pem("test.key", pem, len, true, &err);
	size_t out_len = 0;
	char *pub_out = key ? sg_key_public_pem(key, &out_len, &err) : NULL;
	tap_ok(pub_out && out_len == pub_len && !memcmp(pub_out, pub, pub_len), "a signer-held key's public PEM is test.pub");
	free(pub_out);
	sg_key_free(key);
	if (kp)
		unlink(kp);
	if (pp)
		unlink(pp);
	rmdir(kdir);
	rmdir(dir);
	return tap_done();
}
