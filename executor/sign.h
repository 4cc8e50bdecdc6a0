/* sign.h: Ed25519 keys and DSSE envelopes, what makes a verdict checkable by anyone with
 * the public key and standard tools (openssl, python3-cryptography, ssh-keygen).
 *
 * Pure parts, usable without files: standard base64, the DSSE pre-authentication
 * encoding (PAE), the SSH-style key id, building and parsing envelopes, signing and
 * verifying in memory. File parts: PKCS#8 PEM private keys (created mode 0600, never
 * overwritten), SPKI PEM public keys, the user's default key directory.
 * docs/verdict.md describes the formats.
 */
#ifndef SHIPGATE_SIGN_H
#define SHIPGATE_SIGN_H

#include <shipgate/error.h>

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#define SG_DSSE_INTOTO_TYPE "application/vnd.in-toto+json"
#define SG_ED25519_KEY_LEN 32
#define SG_ED25519_SIG_LEN 64
/* "SHA256:" + 43 characters of unpadded base64 + NUL */
#define SG_KEYID_MAX 51
/* A key file, an envelope: anything larger is refused before it is parsed. */
#define SG_KEY_FILE_MAX (64u * 1024u)
#define SG_ENVELOPE_MAX (64u * 1024u * 1024u)

#define SG_KEY_FILE_NAME "shipgate.key"
#define SG_PUB_FILE_NAME "shipgate.pub"

/* ---- pure encodings ---------------------------------------------------------------- */

/* Standard base64 (RFC 4648 section 4, '+' and '/', with '=' padding); NUL-terminated. */
char *sg_base64_encode(const void *data, size_t len);
/* The same into out, which holds (len + 2) / 3 * 4 + 1 bytes. */
void sg_base64_encode_to(const void *data, size_t len, char *out);
/* Strict decode: the standard alphabet only, length a multiple of 4, padding only at the
 * end, unused bits zero (one text per byte string). No whitespace. The result is
 * NUL-terminated (not counted in out_len). SG_ERR_INPUT naming the offset on garbage. */
int sg_base64_decode(const char *text, size_t len, unsigned char **out, size_t *out_len,
		     sg_error *err);

/* DSSE PAE: "DSSEv1" SP LEN(type) SP type SP LEN(body) SP body, lengths in ASCII decimal. */
unsigned char *sg_dsse_pae(const char *type, const void *body, size_t body_len, size_t *out_len);

/* The key id: what `ssh-keygen -lf` prints for the key, "SHA256:" + unpadded base64 of
 * sha256(string "ssh-ed25519" || string key), each string a u32 big-endian length and
 * the bytes. */
void sg_ssh_ed25519_keyid(const unsigned char pub[SG_ED25519_KEY_LEN], char out[SG_KEYID_MAX]);

/* Parse exactly len bytes of JSON (at most SG_ENVELOPE_MAX, no NUL byte, no trailing
 * garbage); SG_ERR_INPUT naming origin and the byte offset otherwise. */
cJSON *sg_json_parse_exact(const char *origin, const char *text, size_t len, sg_error *err);

/* ---- keys -------------------------------------------------------------------------- */

typedef struct sg_key sg_key;

sg_key *sg_key_generate(sg_error *err);
/* From the 32-byte seed (private) or the 32-byte public key. */
sg_key *sg_key_from_raw_private(const unsigned char seed[SG_ED25519_KEY_LEN], sg_error *err);
sg_key *sg_key_from_raw_public(const unsigned char pub[SG_ED25519_KEY_LEN], sg_error *err);
/* From PEM text (PKCS#8 "PRIVATE KEY" or SPKI "PUBLIC KEY"); origin names it in errors.
 * Anything but an unencrypted Ed25519 key is refused. */
sg_key *sg_key_from_pem(const char *origin, const char *pem, size_t len, bool private_key,
			sg_error *err);
sg_key *sg_key_load_private(const char *path, sg_error *err);
sg_key *sg_key_load_public(const char *path, sg_error *err);
/* A private key's PEM text read from fd until EOF (a pipe: `run --key-fd`); origin names
 * it in errors. The text is wiped once parsed. */
sg_key *sg_key_read_private_fd(int fd, const char *origin, sg_error *err);
void sg_key_free(sg_key *key);

/* From now on, each private key read from PEM (and the default key, when it is made) is
 * held by a signer process of its own, a child: it reads the key with libcrypto, sends
 * back the public half (or the refusal, as it would be worded here), and signs what it is
 * sent until the key is freed. This process never loads libcrypto for it, nor keeps the
 * key's text: libcrypto is 3 MB and more of a process's RSS once loaded, `run`'s
 * supervisor lives as long as its sandbox, and the sandbox's init starts as a copy of the
 * supervisor's memory. Only for a single-threaded process: the command line's `run` turns
 * it on first thing. The private PEM of such a key cannot be had (an SG_ERR_USAGE). */
void sg_key_crypto_in_child(bool on);
/* The process that holds key (0: this one): a caller that kills its children (`loop`,
 * after its agent) spares it. Such a key also checks signatures by itself: through its
 * signer, so that verifying the key's own verdicts does not load libcrypto here. */
pid_t sg_key_signer_pid(const sg_key *key);
/* Has key's signer ended (killed, say, by a process of the same user)? Then key signs no
 * more: load it again. false for a key held by this process. */
bool sg_key_signer_gone(const sg_key *key);

bool sg_key_has_private(const sg_key *key);
const char *sg_key_id(const sg_key *key);
void sg_key_raw_public(const sg_key *key, unsigned char out[SG_ED25519_KEY_LEN]);

/* PEM text of the private (PKCS#8) or public (SPKI) half; free the private one with
 * sg_key_pem_free, which wipes it. */
char *sg_key_private_pem(const sg_key *key, size_t *len, sg_error *err);
char *sg_key_public_pem(const sg_key *key, size_t *len, sg_error *err);
void sg_key_pem_free(char *pem, size_t len);

/* Write the pair: the private key mode 0600, the public key 0644. Neither file is ever
 * overwritten: an existing one is an SG_ERR_USAGE error naming it. Each file appears
 * complete or not at all (written to a fresh temporary file, then hard-linked). */
int sg_key_write_pair(const sg_key *key, const char *key_path, const char *pub_path,
		      sg_error *err);

/* The user's key directory: $XDG_STATE_HOME/shipgate, else ~/.local/state/shipgate. */
char *sg_key_default_dir(sg_error *err);
/* Load DIR/shipgate.key, or create the pair in DIR (made 0700) when neither file exists.
 * *created tells which; key_path/pub_path (may be NULL) receive the paths. */
sg_key *sg_key_load_or_create(const char *dir, bool *created, char **key_path,
			      char **pub_path, sg_error *err);

/* ---- DSSE envelopes ---------------------------------------------------------------- */

typedef struct sg_dsse_sig {
	char *keyid;         /* NULL when the signature has none */
	unsigned char *sig;
	size_t sig_len;
} sg_dsse_sig;

typedef struct sg_dsse_envelope {
	char *payload_type;
	unsigned char *payload;
	size_t payload_len;
	sg_dsse_sig *sigs;
	size_t n_sigs;
} sg_dsse_envelope;

/* The envelope as JSON (pure): payloadType, payload and signatures in base64. */
cJSON *sg_dsse_envelope_json(const sg_dsse_envelope *env);
/* Parse an envelope strictly (pure). SG_ERR_INPUT naming origin and the field for: not
 * JSON, not an object, a missing field, a wrong type, invalid base64, an unknown or
 * duplicate top-level key. Unknown keys inside a signature are ignored (other DSSE
 * tools add some; nothing outside the PAE is signed, so nothing there is trusted). */
int sg_dsse_envelope_parse(const char *origin, const char *text, size_t len,
			   sg_dsse_envelope *env, sg_error *err);
void sg_dsse_envelope_free(sg_dsse_envelope *env);

/* Sign payload as payload_type; returns the envelope's JSON text with a newline. */
char *sg_dsse_sign(const sg_key *key, const char *payload_type, const void *payload,
		   size_t payload_len, size_t *out_len, sg_error *err);
/* The same bytes written to path (atomically), never whole in memory: a large verdict's
 * envelope is not held beside its statement. sha256_hex receives the file's digest. */
int sg_dsse_sign_to_file(const sg_key *key, const char *payload_type, const void *payload, size_t payload_len,
			 const char *path, char sha256_hex[65], sg_error *err);
/* The same for a payload of payload_len bytes in a file, read in pieces with pread from
 * payload_fd (a statement is never whole in memory; libcrypto in this process reads it
 * whole, a signer child gets it in pieces). */
int sg_dsse_sign_fd_to_file(const sg_key *key, const char *payload_type, int payload_fd, size_t payload_len,
			    const char *path, char sha256_hex[65], sg_error *err);

/* Verify an envelope's text against the trusted key: it must parse, carry payload_type
 * and hold a signature whose keyid is the trusted key's and that verifies over the PAE.
 * Signatures by other keys are ignored. On success returns the payload (NUL-terminated,
 * length in *payload_len). Failures: SG_ERR_INPUT for a malformed envelope; SG_ERR_VERIFY
 * for another payloadType, "no signature by the trusted key" and "bad signature". */
unsigned char *sg_dsse_verify(const sg_key *trusted, const char *payload_type,
			      const char *origin, const char *text, size_t len,
			      size_t *payload_len, sg_error *err);

#endif
