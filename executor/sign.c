/* sign.c: Ed25519 keys and DSSE envelopes (see sign.h, docs/verdict.md).
 *
 * The file is in three parts: pure encodings (base64, PAE, the key id), keys (OpenSSL 3
 * EVP, PEM files, the default key directory) and envelopes (build, parse, sign, verify).
 * Everything a signature covers is a PAE (pae_head(), then the payload); nothing outside
 * the PAE bytes (keyids, unknown fields) is ever trusted, only used to pick which
 * signature to check.
 */
#include "sign.h"
#include "util.h"

#include <fcntl.h>
#include <limits.h>
#include <pwd.h>
#include <signal.h>
#include <string.h>
#include <poll.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "crypto.h"
#include "digest.h"
#include "sha256.h"

/* ---- base64 ------------------------------------------------------------------------ */

static const char b64_alphabet[] =
	"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

void sg_base64_encode_to(const void *data, size_t len, char *out)
{
	const unsigned char *in = data;
	char *o = out;
	size_t i = 0;
	for (; i + 3 <= len; i += 3) {
		uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8 | in[i + 2];
		*o++ = b64_alphabet[v >> 18];
		*o++ = b64_alphabet[(v >> 12) & 63];
		*o++ = b64_alphabet[(v >> 6) & 63];
		*o++ = b64_alphabet[v & 63];
	}
	if (len - i == 1) {
		uint32_t v = (uint32_t)in[i] << 16;
		*o++ = b64_alphabet[v >> 18];
		*o++ = b64_alphabet[(v >> 12) & 63];
		*o++ = '=';
		*o++ = '=';
	} else if (len - i == 2) {
		uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8;
		*o++ = b64_alphabet[v >> 18];
		*o++ = b64_alphabet[(v >> 12) & 63];
		*o++ = b64_alphabet[(v >> 6) & 63];
		*o++ = '=';
	}
	*o = '\0';
}

char *sg_base64_encode(const void *data, size_t len)
{
	char *out = sg_xmalloc((len + 2) / 3 * 4 + 1);
	sg_base64_encode_to(data, len, out);
	return out;
}

static int b64_value(unsigned char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+')
		return 62;
	if (c == '/')
		return 63;
	return -1;
}

int sg_base64_decode(const char *text, size_t len, unsigned char **out, size_t *out_len,
		     sg_error *err)
{
	if (len % 4)
		return sg_error_set(err, SG_ERR_INPUT, 0,
				    "invalid base64: length %zu is not a multiple of 4", len);
	size_t pad = 0;
	if (len && text[len - 1] == '=')
		pad = len >= 2 && text[len - 2] == '=' ? 2 : 1;
	sg_autofree unsigned char *buf = sg_xmalloc(len / 4 * 3 + 1);
	size_t n = 0;
	for (size_t i = 0; i < len; i += 4) {
		uint32_t v = 0;
		for (size_t j = 0; j < 4; j++) {
			size_t at = i + j;
			int d = at >= len - pad ? 0 : b64_value((unsigned char)text[at]);
			if (d < 0)
				return sg_error_set(err, SG_ERR_INPUT, 0,
						    text[at] == '=' ? "invalid base64: '=' before the end (offset %zu)"
								    : "invalid base64: character not in the standard alphabet at offset %zu",
						    at);
			v = v << 6 | (uint32_t)d;
		}
		size_t keep = i + 4 == len ? 3 - pad : 3;
		/* the bits that padding leaves unused must be zero, or two texts would
		 * decode to the same bytes */
		if ((keep == 1 && (v & 0xffff)) || (keep == 2 && (v & 0xff)))
			return sg_error_set(err, SG_ERR_INPUT, 0,
					    "invalid base64: non-zero padding bits at offset %zu",
					    len - pad - 1);
		unsigned char bytes[3] = {(unsigned char)(v >> 16), (unsigned char)(v >> 8),
					  (unsigned char)v};
		memcpy(buf + n, bytes, keep);
		n += keep;
	}
	buf[n] = '\0';
	*out = sg_steal_ptr(&buf);
	*out_len = n;
	return 0;
}

/* ---- PAE and key id ---------------------------------------------------------------- */

/* The PAE's bytes before the body (malloc'd). */
static char *pae_head(const char *type, size_t body_len)
{
	return sg_xasprintf("DSSEv1 %zu %s %zu ", strlen(type), type, body_len);
}

unsigned char *sg_dsse_pae(const char *type, const void *body, size_t body_len, size_t *out_len)
{
	sg_buf b = {0};
	sg_autofree char *head = pae_head(type, body_len);
	sg_buf_puts(&b, head);
	sg_buf_append(&b, body, body_len);
	*out_len = b.len;
	return (unsigned char *)b.data;
}

static void put_ssh_string(sg_buf *b, const void *data, uint32_t len)
{
	unsigned char be[4] = {(unsigned char)(len >> 24), (unsigned char)(len >> 16),
			       (unsigned char)(len >> 8), (unsigned char)len};
	sg_buf_append(b, be, 4);
	sg_buf_append(b, data, len);
}

void sg_ssh_ed25519_keyid(const unsigned char pub[SG_ED25519_KEY_LEN], char out[SG_KEYID_MAX])
{
	sg_buf blob = {0};
	put_ssh_string(&blob, "ssh-ed25519", 11);
	put_ssh_string(&blob, pub, SG_ED25519_KEY_LEN);
	uint8_t md[SG_SHA256_LEN];
	sg_sha256_bytes(blob.data, blob.len, md);
	sg_buf_free(&blob);
	sg_autofree char *b64 = sg_base64_encode(md, sizeof(md));
	size_t n = strlen(b64);
	while (n && b64[n - 1] == '=')
		n--;
	snprintf(out, SG_KEYID_MAX, "SHA256:%.*s", (int)n, b64);
}

/* ---- keys -------------------------------------------------------------------------- */

struct sg_key {
	EVP_PKEY *pkey; /* NULL for a key held by a signer process (below) */
	bool has_private;
	/* A private key read while sg_key_crypto_in_child is on: a signer process (a child)
	 * holds it and libcrypto, and signs what it is sent on signer_fd; this process has
	 * neither. -1 / 0 otherwise. */
	int signer_fd;
	pid_t signer_pid;
	unsigned char pub[SG_ED25519_KEY_LEN];
	char id[SG_KEYID_MAX];
};

/* The reason OpenSSL gave for its last failure; the error queue is emptied. */
static const char *openssl_reason(void)
{
	unsigned long e = ERR_peek_last_error();
	const char *r = e ? ERR_reason_error_string(e) : NULL;
	ERR_clear_error();
	return r ? r : "unknown OpenSSL error";
}

static sg_key *key_wrap(EVP_PKEY *pkey, bool has_private, const char *origin, sg_error *err)
{
	if (EVP_PKEY_get_id(pkey) != EVP_PKEY_ED25519) {
		const char *type = EVP_PKEY_get0_type_name(pkey);
		sg_error_set(err, SG_ERR_USAGE, 0, "%s: key type %s, expected Ed25519", origin,
			     type ? type : "non-Ed25519");
		EVP_PKEY_free(pkey);
		return NULL;
	}
	sg_key *key = sg_xcalloc(1, sizeof(*key));
	key->pkey = pkey;
	key->has_private = has_private;
	key->signer_fd = -1;
	size_t len = sizeof(key->pub);
	if (EVP_PKEY_get_raw_public_key(pkey, key->pub, &len) != 1 || len != sizeof(key->pub)) {
		sg_error_set(err, SG_ERR_INTERNAL, 0, "%s: reading the public key: %s", origin,
			     openssl_reason());
		sg_key_free(key);
		return NULL;
	}
	sg_ssh_ed25519_keyid(key->pub, key->id);
	return key;
}

sg_key *sg_key_generate(sg_error *err)
{
	EVP_PKEY *pkey = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
	if (!pkey) {
		sg_error_set(err, SG_ERR_INTERNAL, 0, "generating an Ed25519 key: %s", openssl_reason());
		return NULL;
	}
	return key_wrap(pkey, true, "generated key", err);
}

sg_key *sg_key_from_raw_private(const unsigned char seed[SG_ED25519_KEY_LEN], sg_error *err)
{
	EVP_PKEY *pkey = EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, NULL, seed, SG_ED25519_KEY_LEN);
	if (!pkey) {
		sg_error_set(err, SG_ERR_INPUT, 0, "Ed25519 private key: %s", openssl_reason());
		return NULL;
	}
	return key_wrap(pkey, true, "raw key", err);
}

sg_key *sg_key_from_raw_public(const unsigned char pub[SG_ED25519_KEY_LEN], sg_error *err)
{
	EVP_PKEY *pkey = EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, NULL, pub, SG_ED25519_KEY_LEN);
	if (!pkey) {
		sg_error_set(err, SG_ERR_INPUT, 0, "Ed25519 public key: %s", openssl_reason());
		return NULL;
	}
	return key_wrap(pkey, false, "raw key", err);
}

/* Never let OpenSSL prompt on the terminal for a passphrase. */
static int no_passphrase(char *buf, int size, int rwflag, void *u)
{
	(void)buf, (void)size, (void)rwflag, (void)u;
	return -1;
}

static bool has_text(const char *pem, size_t len, const char *needle)
{
	return memmem(pem, len, needle, strlen(needle)) != NULL;
}

/* Say what the file is when it is not what was asked for. */
static sg_key *pem_refused(const char *origin, const char *pem, size_t len, bool private_key,
			   sg_error *err)
{
	ERR_clear_error();
	if (has_text(pem, len, "ENCRYPTED PRIVATE KEY"))
		sg_error_set(err, SG_ERR_USAGE, 0,
			     "%s: an encrypted private key; shipgate needs an unencrypted PKCS#8 key "
			     "(mode 0600), such as `shipgate keygen` makes", origin);
	else if (has_text(pem, len, "OPENSSH PRIVATE KEY") || has_text(pem, len, "ssh-ed25519 "))
		sg_error_set(err, SG_ERR_USAGE, 0,
			     "%s: an OpenSSH-format key; shipgate reads PEM (%s), such as "
			     "`shipgate keygen` makes", origin,
			     private_key ? "PKCS#8 \"PRIVATE KEY\"" : "SPKI \"PUBLIC KEY\"");
	else if (!private_key && has_text(pem, len, "PRIVATE KEY-----"))
		sg_error_set(err, SG_ERR_USAGE, 0,
			     "%s: a private key where a public key was expected (pass the .pub file)",
			     origin);
	else if (private_key && has_text(pem, len, "PUBLIC KEY-----"))
		sg_error_set(err, SG_ERR_USAGE, 0,
			     "%s: a public key where a private key was expected", origin);
	else
		sg_error_set(err, SG_ERR_USAGE, 0,
			     "%s: not a PEM %s key (expected \"-----BEGIN %s KEY-----\")", origin,
			     private_key ? "PKCS#8 private" : "SPKI public",
			     private_key ? "PRIVATE" : "PUBLIC");
	return NULL;
}

/* sg_key_from_pem in this process, with libcrypto. */
static sg_key *key_from_pem_here(const char *origin, const char *pem, size_t len, bool private_key,
				 sg_error *err)
{
	if (len > INT_MAX)
		return pem_refused(origin, pem, 0, private_key, err);
	BIO *bio = BIO_new_mem_buf(pem, (int)len);
	if (!bio) {
		sg_error_set(err, SG_ERR_INTERNAL, 0, "%s: %s", origin, openssl_reason());
		return NULL;
	}
	EVP_PKEY *pkey = private_key ? PEM_read_bio_PrivateKey(bio, NULL, no_passphrase, NULL)
				     : PEM_read_bio_PUBKEY(bio, NULL, no_passphrase, NULL);
	BIO_free(bio);
	if (!pkey)
		return pem_refused(origin, pem, len, private_key, err);
	ERR_clear_error();
	return key_wrap(pkey, private_key, origin, err);
}

/* ---- a private key's crypto in a child process ------------------------------------ */

static bool crypto_in_child;

void sg_key_crypto_in_child(bool on)
{
	crypto_in_child = on;
}

/* A reply: 'k' and its bytes, or 'e', the error's kind and errno, and its message. */
static void reply_build(sg_buf *out, int rc, const sg_buf *answer, const sg_error *e)
{
	if (rc == 0) {
		sg_buf_append(out, "k", 1);
		sg_buf_append(out, answer->data ? answer->data : "", answer->len);
		return;
	}
	int32_t head[2] = {(int32_t)e->kind, (int32_t)e->errnum};
	sg_buf_append(out, "e", 1);
	sg_buf_append(out, head, sizeof(head));
	sg_buf_puts(out, e->msg);
}

/* A reply read back: 0 and its bytes in answer, or -1 and its error in err. */
static int reply_parse(const char *what, const unsigned char *buf, size_t n, sg_buf *answer, sg_error *err)
{
	if (n >= 1 && buf[0] == 'k') {
		sg_buf_append(answer, buf + 1, n - 1);
		return 0;
	}
	if (n < 1 + 2 * sizeof(int32_t) || buf[0] != 'e')
		return sg_error_set(err, SG_ERR_INTERNAL, 0, "%s: a garbled answer", what);
	int32_t head[2];
	memcpy(head, buf + 1, sizeof(head));
	sg_error e = {.kind = (sg_error_kind)head[0], .errnum = head[1]};
	size_t mlen = n - 1 - sizeof(head);
	if (mlen >= sizeof(e.msg))
		mlen = sizeof(e.msg) - 1;
	memcpy(e.msg, buf + 1 + sizeof(head), mlen);
	if (err)
		*err = e;
	return -1;
}

/* "was killed by SIGx" or "ended", for a child whose end was seen in status. */
static const char *how_it_ended(int status, char *buf, size_t size)
{
	if (!WIFSIGNALED(status))
		return "ended";
	const char *sig = sigabbrev_np(WTERMSIG(status));
	snprintf(buf, size, "was killed by SIG%s", sig ? sig : "?");
	return buf;
}

/* The signer, a child of a single-threaded process (the command line's run): it goes on
 * with our heap and locks, and dies with us. It keeps stderr, and fd as fd 3; stdin and
 * stdout are /dev/null; its name (ps, pgrep) says what it is. */
static void signer_setup(int fd)
{
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	prctl(PR_SET_NAME, "shipgate-signer");
	/* a signal to the process group is for the supervisor, which still needs us to sign
	 * its interrupted verdict; we end at EOF, or with it */
	signal(SIGINT, SIG_IGN);
	signal(SIGTERM, SIG_IGN);
	signal(SIGHUP, SIG_IGN);
	crypto_in_child = false;
	if (fd != 3 && dup2(fd, 3) < 0)
		_exit(1);
	close_range(4, ~0U, 0);
	/* nobody waiting for our caller's output to end waits for us too */
	int null = open("/dev/null", O_RDWR | O_CLOEXEC);
	if (null >= 0) {
		dup2(null, 0);
		dup2(null, 1);
		close(null);
	}
}

/* ---- the signer process ---------------------------------------------------------------- */

/* Frames on the signer's socket: a 32-bit length, then that many bytes. A request is the
 * bytes to sign (a DSSE PAE); a reply is 'k' and the signature, or an error. The first
 * reply, sent unasked, is the key's public half (or why the key was refused). */
#define SG_SIGNER_MAX (256u << 20)
/* a request's first byte: sign the rest (a PAE), or check the signature that follows it
 * against the rest (the key's own verdicts, checked by `loop` without libcrypto here) */
#define SIGNER_SIGN 's'
#define SIGNER_VERIFY 'v'

/* All of iov's bytes (iov is used up). */
static int send_iov(int fd, struct iovec *iov, size_t cnt)
{
	struct msghdr mh = {.msg_iov = iov, .msg_iovlen = cnt};
	size_t want = 0;
	for (size_t i = 0; i < cnt; i++)
		want += iov[i].iov_len;
	while (want) {
		ssize_t w = sendmsg(fd, &mh, MSG_NOSIGNAL);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return -1;
		want -= (size_t)w;
		while (w > 0 && mh.msg_iovlen) {
			size_t take = (size_t)w < mh.msg_iov->iov_len ? (size_t)w : mh.msg_iov->iov_len;
			mh.msg_iov->iov_base = (char *)mh.msg_iov->iov_base + take;
			mh.msg_iov->iov_len -= take;
			w -= (ssize_t)take;
			if (!mh.msg_iov->iov_len) {
				mh.msg_iov++;
				mh.msg_iovlen--;
			}
		}
	}
	return 0;
}

static int frame_send(int fd, const void *data, size_t len)
{
	uint32_t n = (uint32_t)len;
	struct iovec iov[2] = {{&n, sizeof(n)}, {(void *)data, len}};
	return send_iov(fd, iov, 2);
}

/* A frame into *out (malloc'd): its length, 0 at EOF before a frame, -1 on an error. */
static ssize_t frame_recv(int fd, unsigned char **out)
{
	uint32_t n = 0;
	ssize_t got = sg_read_all(fd, &n, sizeof(n));
	if (got == 0)
		return 0;
	if (got != (ssize_t)sizeof(n) || n > SG_SIGNER_MAX)
		return -1;
	*out = sg_xmalloc(n ? n : 1);
	if (sg_read_all(fd, *out, n) != (ssize_t)n) {
		free(*out);
		*out = NULL;
		return -1;
	}
	return (ssize_t)n;
}

/* msg's signature by a key this process holds (pkey). */
static int sign_here(const sg_key *key, const unsigned char *msg, size_t len, unsigned char sig[SG_ED25519_SIG_LEN],
		     sg_error *err)
{
	size_t sig_len = SG_ED25519_SIG_LEN;
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	bool ok = ctx && EVP_DigestSignInit(ctx, NULL, NULL, NULL, key->pkey) == 1 &&
		  EVP_DigestSign(ctx, sig, &sig_len, msg, len) == 1 && sig_len == SG_ED25519_SIG_LEN;
	EVP_MD_CTX_free(ctx);
	if (!ok)
		return sg_error_set(err, SG_ERR_INTERNAL, 0, "signing with %s: %s", key->id, openssl_reason());
	return 0;
}

/* Is sig a signature of msg by key (whose libcrypto object this process holds)? */
static bool verify_here(const sg_key *key, const unsigned char *sig, const unsigned char *msg, size_t len)
{
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	bool ok = ctx && EVP_DigestVerifyInit(ctx, NULL, NULL, NULL, key->pkey) == 1 &&
		  EVP_DigestVerify(ctx, sig, SG_ED25519_SIG_LEN, msg, len) == 1;
	EVP_MD_CTX_free(ctx);
	ERR_clear_error();
	return ok;
}

/* A new key, written as the pair key_path/pub_path (see sg_key_write_pair). */
static sg_key *key_make_here(const char *key_path, const char *pub_path, sg_error *err)
{
	sg_key *key = sg_key_generate(err);
	if (key && sg_key_write_pair(key, key_path, pub_path, err) < 0) {
		sg_key_free(key);
		return NULL;
	}
	return key;
}

/* The signer: read the key (or, without a text, make the pair at key_path/pub_path),
 * say its public half, then sign each request until EOF. */
static _Noreturn void signer_main(const char *origin, const char *pem, size_t len, const char *key_path,
				  const char *pub_path)
{
	sg_error e = {0};
	sg_key *key = sg_crypto_available(&e) < 0 ? NULL
		      : pem ? key_from_pem_here(origin, pem, len, true, &e)
			    : key_make_here(key_path, pub_path, &e);
	sg_buf first = {0}, pub = {0};
	if (key)
		sg_buf_append(&pub, key->pub, sizeof(key->pub));
	reply_build(&first, key ? 0 : -1, &pub, &e);
	if (frame_send(3, first.data, first.len) < 0 || !key)
		_exit(0);
	for (;;) {
		unsigned char *msg = NULL;
		ssize_t n = frame_recv(3, &msg);
		if (n <= 0)
			_exit(0);
		unsigned char sig[SG_ED25519_SIG_LEN];
		sg_error se = {0};
		sg_buf reply = {0}, answer = {0};
		int rc = 0;
		if (msg[0] == SIGNER_SIGN) {
			rc = sign_here(key, msg + 1, (size_t)n - 1, sig, &se);
			if (rc == 0)
				sg_buf_append(&answer, sig, sizeof(sig));
		} else if (msg[0] == SIGNER_VERIFY && (size_t)n >= 1 + SG_ED25519_SIG_LEN) {
			bool ok = verify_here(key, msg + 1, msg + 1 + SG_ED25519_SIG_LEN,
					      (size_t)n - 1 - SG_ED25519_SIG_LEN);
			sg_buf_append(&answer, ok ? "1" : "0", 1);
		} else {
			_exit(0); /* not a request of ours */
		}
		free(msg);
		reply_build(&reply, rc, &answer, &se);
		if (frame_send(3, reply.data, reply.len) < 0)
			_exit(0);
		sg_buf_free(&reply);
		sg_buf_free(&answer);
	}
}

/* The signer's end, once it has been told (EOF) or has failed: a second at most (a
 * stopped or hung one must not hang the run), then SIGKILL. true when it ended by itself,
 * with its wait status in *status. */
static bool signer_reap(pid_t pid, int *status)
{
	if (pid <= 0)
		return false;
	/* woken when it ends (a pidfd polls readable then), not by a timer */
	int pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
	for (int i = 0; i < 1000; i++) {
		pid_t r = waitpid(pid, status, WNOHANG);
		if (r == pid || (r < 0 && errno != EINTR)) {
			if (pidfd >= 0)
				close(pidfd);
			return r == pid;
		}
		if (pidfd >= 0) {
			struct pollfd pfd = {.fd = pidfd, .events = POLLIN};
			if (poll(&pfd, 1, 1000) == 0)
				break; /* a second without ending */
		} else {
			struct timespec ts = {0, 1000 * 1000};
			nanosleep(&ts, NULL);
		}
	}
	if (pidfd >= 0)
		close(pidfd);
	kill(pid, SIGKILL);
	while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
		;
	return false;
}

/* The signer reaped (signer_reap): "was killed by SIGx", "ended", or "gave no answer"
 * when it had to be killed. */
static const char *signer_end(pid_t pid, char *buf, size_t size)
{
	int status = 0;
	if (signer_reap(pid, &status))
		return how_it_ended(status, buf, size);
	return errno == ECHILD ? "ended (reaped by another part of this process)" : "gave no answer";
}

/* A key's signer that stopped answering (or was told to go): reaped, forgotten, and how
 * it ended said in how. */
static const char *signer_lost(const sg_key *key, char *how, size_t size)
{
	const char *end = signer_end(key->signer_pid, how, size);
	((sg_key *)key)->signer_pid = 0;
	return end;
}

/* A private key held by a new signer process: the text goes with the fork (the caller
 * wipes its own), or, without one, the signer makes the pair at key_path/pub_path; the
 * public half comes back, or the refusal, in the words and kind libcrypto's reading
 * gives in this process. */
static sg_key *key_with_signer(const char *origin, const char *pem, size_t len, const char *key_path,
			       const char *pub_path, sg_error *err)
{
	int sv[2];
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0) {
		sg_error_set(err, SG_ERR_INTERNAL, errno, "%s: socketpair", origin);
		return NULL;
	}
	/* our end above stderr: a caller that started us with stdout or stderr closed must
	 * not have our progress lines written into it, nor the signer keep it as its stderr */
	if (sv[0] <= 2) {
		int moved = fcntl(sv[0], F_DUPFD_CLOEXEC, 3);
		close(sv[0]);
		sv[0] = moved;
	}
	/* a signer that stops answering (stopped, stuck) is given up on, not waited for:
	 * reading a key and signing a statement take milliseconds */
	struct timeval limit = {.tv_sec = 30};
	if (sv[0] >= 0 && (setsockopt(sv[0], SOL_SOCKET, SO_RCVTIMEO, &limit, sizeof(limit)) < 0 ||
			   setsockopt(sv[0], SOL_SOCKET, SO_SNDTIMEO, &limit, sizeof(limit)) < 0)) {
		close(sv[0]);
		sv[0] = -1;
	}
	pid_t pid = sv[0] >= 0 ? fork() : -1;
	if (pid < 0) {
		sg_error_set(err, SG_ERR_INTERNAL, errno, "%s: fork", origin);
		if (sv[0] >= 0)
			close(sv[0]);
		close(sv[1]);
		return NULL;
	}
	if (pid == 0) {
		close(sv[0]);
		signer_setup(sv[1]);
		signer_main(origin, pem, len, key_path, pub_path);
	}
	close(sv[1]);
	unsigned char *first = NULL;
	ssize_t n = frame_recv(sv[0], &first);
	sg_buf pub = {0};
	int rc = n > 0 ? reply_parse(origin, first, (size_t)n, &pub, err) : -1;
	free(first);
	if (rc == 0 && pub.len != SG_ED25519_KEY_LEN)
		rc = sg_error_set(err, SG_ERR_INTERNAL, 0, "%s: a garbled answer", origin);
	if (rc < 0) {
		sg_buf_free(&pub);
		close(sv[0]);
		char how[64];
		const char *end = signer_end(pid, how, sizeof(how));
		if (n <= 0)
			sg_error_set(err, SG_ERR_INTERNAL, 0, "%s: the signer process %s without an answer", origin, end);
		return NULL;
	}
	sg_key *key = sg_xcalloc(1, sizeof(*key));
	key->has_private = true;
	key->signer_fd = sv[0];
	key->signer_pid = pid;
	memcpy(key->pub, pub.data, SG_ED25519_KEY_LEN);
	sg_ssh_ed25519_keyid(key->pub, key->id);
	sg_buf_free(&pub);
	return key;
}

/* Where a payload to sign lies: in memory, or in a file read in pieces (pread), so that
 * a large statement is never whole in this process. */
typedef struct payload_src {
	const unsigned char *mem; /* NULL: in fd */
	int fd;
	size_t len;
} payload_src;

#define SG_PAYLOAD_PIECE (48u * 1024u) /* 64 KiB of base64 */

/* n bytes of the payload from off into buf; -1 (errno set) when the file gives fewer. */
static int src_read(const payload_src *src, size_t off, void *buf, size_t n)
{
	if (src->mem) {
		memcpy(buf, src->mem + off, n);
		return 0;
	}
	for (size_t done = 0; done < n;) {
		ssize_t r = pread(src->fd, (char *)buf + done, n - done, (off_t)(off + done));
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0) {
			if (r == 0)
				errno = EIO; /* the file is shorter than what was written to it */
			return -1;
		}
		done += (size_t)r;
	}
	return 0;
}

/* Its signature of the PAE (head, then the payload), from the signer: one frame, the
 * payload sent where it lies or in pieces of its file. */
static int signer_sign(const sg_key *key, const char *head, const payload_src *src,
		       unsigned char sig[SG_ED25519_SIG_LEN], sg_error *err)
{
	size_t head_len = strlen(head), len = 1 + head_len + src->len;
	if (len > SG_SIGNER_MAX)
		return sg_error_set(err, SG_ERR_INTERNAL, 0, "signing: %zu bytes, more than the signer takes", len);
	uint32_t n32 = (uint32_t)len;
	char type = SIGNER_SIGN;
	struct iovec iov[4] = {{&n32, sizeof(n32)},
			       {&type, 1},
			       {(void *)head, head_len},
			       {(void *)src->mem, src->mem ? src->len : 0}};
	int sent = send_iov(key->signer_fd, iov, 4);
	if (sent == 0 && !src->mem) {
		sg_autofree unsigned char *piece = sg_xmalloc(SG_PAYLOAD_PIECE);
		for (size_t off = 0; sent == 0 && off < src->len; off += SG_PAYLOAD_PIECE) {
			size_t k = src->len - off < SG_PAYLOAD_PIECE ? src->len - off : SG_PAYLOAD_PIECE;
			if (src_read(src, off, piece, k) < 0) {
				/* the frame cannot be finished: this signer is done with */
				int e = errno;
				char how[64];
				shutdown(key->signer_fd, SHUT_RDWR);
				signer_lost(key, how, sizeof(how));
				return sg_error_set(err, SG_ERR_INTERNAL, e, "signing with %s: reading what to sign", key->id);
			}
			struct iovec one = {piece, k};
			sent = send_iov(key->signer_fd, &one, 1);
		}
	}
	unsigned char *reply = NULL;
	ssize_t n = sent == 0 ? frame_recv(key->signer_fd, &reply) : -1;
	if (n <= 0) {
		/* reaped here, to say how it ended */
		char how[64];
		return sg_error_set(err, SG_ERR_INTERNAL, 0, "signing with %s: its signer process %s", key->id,
				    signer_lost(key, how, sizeof(how)));
	}
	sg_buf answer = {0};
	int rc = reply_parse("signing", reply, (size_t)n, &answer, err);
	free(reply);
	if (rc == 0 && answer.len != SG_ED25519_SIG_LEN)
		rc = sg_error_set(err, SG_ERR_INTERNAL, 0, "signing with %s: a garbled answer", key->id);
	if (rc == 0)
		memcpy(sig, answer.data, SG_ED25519_SIG_LEN);
	sg_buf_free(&answer);
	return rc;
}

/* A key's libcrypto object in this process after all (verifying, PEM out): a key held
 * by a signer is its public half here; its private half never comes back. */
static int key_materialize(const sg_key *key_, sg_error *err)
{
	sg_key *key = (sg_key *)key_; /* a cache of the public half, which never changes */
	if (key->pkey)
		return 0;
	key->pkey = EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, NULL, key->pub, SG_ED25519_KEY_LEN);
	if (!key->pkey)
		return sg_error_set(err, SG_ERR_INTERNAL, 0, "key %s: %s", key->id, openssl_reason());
	return 0;
}

sg_key *sg_key_from_pem(const char *origin, const char *pem, size_t len, bool private_key, sg_error *err)
{
	if (private_key && crypto_in_child)
		return key_with_signer(origin, pem, len, NULL, NULL, err);
	return key_from_pem_here(origin, pem, len, private_key, err);
}

/* Read a key from fd (origin names it) into a buffer that is wiped when freed. */
static char *read_key_fd(int fd, const char *origin, size_t *len, sg_error *err)
{
	char *buf = sg_xmalloc(SG_KEY_FILE_MAX + 1);
	ssize_t n = sg_read_all(fd, buf, SG_KEY_FILE_MAX + 1);
	if (n < 0 || (size_t)n > SG_KEY_FILE_MAX) {
		int e = n < 0 ? errno : 0;
		explicit_bzero(buf, SG_KEY_FILE_MAX + 1);
		free(buf);
		if (e)
			sg_error_set(err, SG_ERR_USAGE, e, "read %s", origin);
		else
			sg_error_set(err, SG_ERR_USAGE, 0, "%s: larger than %u bytes: not a key file",
				     origin, SG_KEY_FILE_MAX);
		return NULL;
	}
	buf[n] = '\0';
	*len = (size_t)n;
	return buf;
}

/* Read a key file: a regular file, never a FIFO or a device to wait on. */
static char *read_key_file(const char *path, size_t *len, sg_error *err)
{
	sg_autoclose int fd = SG_RETRY(open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK));
	if (fd < 0) {
		sg_error_set(err, SG_ERR_USAGE, errno, "%s", path);
		return NULL;
	}
	struct stat st;
	if (fstat(fd, &st) < 0) {
		sg_error_set(err, SG_ERR_USAGE, errno, "stat %s", path);
		return NULL;
	}
	if (!S_ISREG(st.st_mode)) {
		sg_error_set(err, SG_ERR_USAGE, 0, "%s: not a regular file", path);
		return NULL;
	}
	return read_key_fd(fd, path, len, err);
}

static sg_key *key_from_text(const char *origin, char *pem, size_t len, bool private_key, sg_error *err)
{
	if (!pem)
		return NULL;
	sg_key *key = sg_key_from_pem(origin, pem, len, private_key, err);
	explicit_bzero(pem, len);
	free(pem);
	return key;
}

sg_key *sg_key_load_private(const char *path, sg_error *err)
{
	size_t len = 0;
	char *pem = read_key_file(path, &len, err);
	return key_from_text(path, pem, len, true, err);
}

sg_key *sg_key_read_private_fd(int fd, const char *origin, sg_error *err)
{
	size_t len = 0;
	char *pem = read_key_fd(fd, origin, &len, err);
	return key_from_text(origin, pem, len, true, err);
}

sg_key *sg_key_load_public(const char *path, sg_error *err)
{
	size_t len = 0;
	char *pem = read_key_file(path, &len, err);
	return key_from_text(path, pem, len, false, err);
}

void sg_key_free(sg_key *key)
{
	if (!key)
		return;
	if (key->pkey)
		EVP_PKEY_free(key->pkey);
	if (key->signer_fd >= 0) {
		close(key->signer_fd); /* the signer reads EOF and ends */
		char how[64];
		signer_end(key->signer_pid, how, sizeof(how));
	}
	free(key);
}

bool sg_key_signer_gone(const sg_key *key)
{
	if (!key || key->signer_fd < 0)
		return false;
	/* it never speaks unasked: anything to read, or a hang-up, is its end */
	struct pollfd p = {.fd = key->signer_fd, .events = POLLIN};
	return key->signer_pid <= 0 || (poll(&p, 1, 0) > 0 && (p.revents & (POLLIN | POLLHUP | POLLERR)));
}

pid_t sg_key_signer_pid(const sg_key *key)
{
	return key && key->signer_fd >= 0 ? key->signer_pid : 0;
}

bool sg_key_has_private(const sg_key *key)
{
	return key->has_private;
}

const char *sg_key_id(const sg_key *key)
{
	return key->id;
}

void sg_key_raw_public(const sg_key *key, unsigned char out[SG_ED25519_KEY_LEN])
{
	memcpy(out, key->pub, SG_ED25519_KEY_LEN);
}

static char *key_pem(const sg_key *key, bool private_key, size_t *len, sg_error *err)
{
	if (private_key && !key->has_private) {
		sg_error_set(err, SG_ERR_USAGE, 0, "key %s: no private half", key->id);
		return NULL;
	}
	if (private_key && key->signer_fd >= 0) {
		sg_error_set(err, SG_ERR_USAGE, 0, "key %s: held by its signer process, which keeps it", key->id);
		return NULL;
	}
	if (key_materialize(key, err) < 0)
		return NULL;
	/* a secure-memory BIO wipes what it held when freed */
	BIO *bio = BIO_new(private_key ? BIO_s_secmem() : BIO_s_mem());
	int ok = bio && (private_key ? PEM_write_bio_PrivateKey(bio, key->pkey, NULL, NULL, 0, NULL, NULL)
				     : PEM_write_bio_PUBKEY(bio, key->pkey));
	char *data = NULL;
	long n = ok ? BIO_get_mem_data(bio, &data) : 0;
	if (!ok || n <= 0) {
		sg_error_set(err, SG_ERR_INTERNAL, 0, "key %s: writing PEM: %s", key->id, openssl_reason());
		BIO_free(bio);
		return NULL;
	}
	char *out = sg_xstrndup(data, (size_t)n);
	*len = (size_t)n;
	BIO_free(bio);
	return out;
}

char *sg_key_private_pem(const sg_key *key, size_t *len, sg_error *err)
{
	return key_pem(key, true, len, err);
}

char *sg_key_public_pem(const sg_key *key, size_t *len, sg_error *err)
{
	return key_pem(key, false, len, err);
}

void sg_key_pem_free(char *pem, size_t len)
{
	if (!pem)
		return;
	explicit_bzero(pem, len);
	free(pem);
}

/* Create path holding data, or fail if it exists; never overwrite, never follow a
 * symlink, never leave a partial file under the final name: the bytes go to a fresh
 * temporary file (O_CREAT | O_EXCL | O_NOFOLLOW, the final mode from the start), which
 * link(2) then gives its name; link fails with EEXIST rather than replace anything. */
static int create_new_file(const char *path, const void *data, size_t len, mode_t mode,
			   sg_error *err)
{
	uint64_t nonce = 0;
	if (getrandom(&nonce, sizeof(nonce), 0) != (ssize_t)sizeof(nonce))
		nonce = sg_monotonic_ns();
	sg_autofree char *tmp = sg_xasprintf("%s.%d.%016llx.tmp", path, (int)getpid(),
					     (unsigned long long)nonce);
	sg_autoclose int fd = SG_RETRY(open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
					    mode));
	if (fd < 0)
		return sg_error_set(err, SG_ERR_USAGE, errno, "create %s", tmp);
	if (fchmod(fd, mode) < 0 || sg_write_all(fd, data, len) < 0 || fsync(fd) < 0) {
		int e = errno;
		unlink(tmp);
		return sg_error_set(err, SG_ERR_USAGE, e, "write %s", tmp);
	}
	int rc = link(tmp, path);
	int e = errno;
	unlink(tmp);
	if (rc < 0 && e == EEXIST)
		return sg_error_set(err, SG_ERR_USAGE, 0,
				    "%s already exists: refusing to overwrite it (move it away first)", path);
	if (rc < 0)
		return sg_error_set(err, SG_ERR_USAGE, e, "create %s", path);
	return 0;
}

static void sync_parent_dir(const char *path)
{
	sg_autofree char *dir = sg_xstrdup(path);
	char *slash = strrchr(dir, '/');
	if (slash == dir)
		slash[1] = '\0';
	else if (slash)
		*slash = '\0';
	else
		strcpy(dir, ".");
	sg_autoclose int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd >= 0)
		fsync(fd);
}

int sg_key_write_pair(const sg_key *key, const char *key_path, const char *pub_path,
		      sg_error *err)
{
	/* the link(2) below would refuse too; checking first leaves nothing half-made, and
	 * a .pub left from another key must not be kept beside a new private key */
	struct stat st;
	const char *exists = lstat(key_path, &st) == 0 ? key_path : lstat(pub_path, &st) == 0 ? pub_path : NULL;
	if (exists)
		return sg_error_set(err, SG_ERR_USAGE, 0,
				    "%s already exists: refusing to overwrite it (move it away first)", exists);
	size_t priv_len = 0, pub_len = 0;
	char *priv = sg_key_private_pem(key, &priv_len, err);
	if (!priv)
		return -1;
	int rc = create_new_file(key_path, priv, priv_len, 0600, err);
	sg_key_pem_free(priv, priv_len);
	if (rc < 0)
		return -1;
	sg_autofree char *pub = sg_key_public_pem(key, &pub_len, err);
	if (!pub || create_new_file(pub_path, pub, pub_len, 0644, err) < 0) {
		unlink(key_path); /* ours: link(2) just made it */
		return -1;
	}
	sync_parent_dir(key_path);
	return 0;
}

char *sg_key_default_dir(sg_error *err)
{
	const char *state = getenv("XDG_STATE_HOME");
	/* the XDG spec: a relative path is invalid and is to be ignored */
	if (state && state[0] == '/')
		return sg_xasprintf("%s/shipgate", state);
	const char *home = getenv("HOME");
	if (!home || home[0] != '/') {
		struct passwd *pw = getpwuid(geteuid());
		home = pw ? pw->pw_dir : NULL;
	}
	if (!home || home[0] != '/') {
		sg_error_set(err, SG_ERR_USAGE, 0,
			     "no default key directory: neither XDG_STATE_HOME nor HOME is an absolute "
			     "path (set one, or pass the key explicitly)");
		return NULL;
	}
	return sg_xasprintf("%s/.local/state/shipgate", home);
}

sg_key *sg_key_load_or_create(const char *dir, bool *created, char **key_path,
			      char **pub_path, sg_error *err)
{
	sg_autofree char *kp = sg_xasprintf("%s/" SG_KEY_FILE_NAME, dir);
	sg_autofree char *pp = sg_xasprintf("%s/" SG_PUB_FILE_NAME, dir);
	*created = false;
	sg_error first = {0}; /* err may be NULL (the C API allows it) */
	sg_key *key = sg_key_load_private(kp, &first);
	if (!key && first.errnum != ENOENT) {
		if (err)
			*err = first;
		return NULL;
	}
	if (!key && sg_mkdir_p(dir, 0700, err) < 0) {
		if (err)
			err->kind = SG_ERR_USAGE; /* where the user's keys go, not shipgate's fault */
		return NULL;
	}
	if (!key) {
		/* made by a signer when keys are held by signers (sg_key_crypto_in_child) */
		key = crypto_in_child ? key_with_signer("creating the signing key", NULL, 0, kp, pp, err)
				      : key_make_here(kp, pp, err);
		if (key)
			*created = true;
		else if (access(kp, F_OK) == 0) /* another shipgate may have created it since: use that one */
			key = sg_key_load_private(kp, err);
	}
	if (key && key_path)
		*key_path = sg_steal_ptr(&kp);
	if (key && pub_path)
		*pub_path = sg_steal_ptr(&pp);
	return key;
}

/* ---- envelopes --------------------------------------------------------------------- */

cJSON *sg_dsse_envelope_json(const sg_dsse_envelope *env)
{
	cJSON *o = cJSON_CreateObject();
	cJSON_AddStringToObject(o, "payloadType", env->payload_type);
	sg_autofree char *payload = sg_base64_encode(env->payload, env->payload_len);
	cJSON_AddStringToObject(o, "payload", payload);
	cJSON *sigs = cJSON_AddArrayToObject(o, "signatures");
	for (size_t i = 0; i < env->n_sigs; i++) {
		cJSON *s = cJSON_CreateObject();
		if (env->sigs[i].keyid)
			cJSON_AddStringToObject(s, "keyid", env->sigs[i].keyid);
		sg_autofree char *sig = sg_base64_encode(env->sigs[i].sig, env->sigs[i].sig_len);
		cJSON_AddStringToObject(s, "sig", sig);
		cJSON_AddItemToArray(sigs, s);
	}
	return o;
}

void sg_dsse_envelope_free(sg_dsse_envelope *env)
{
	free(env->payload_type);
	free(env->payload);
	for (size_t i = 0; i < env->n_sigs; i++) {
		free(env->sigs[i].keyid);
		free(env->sigs[i].sig);
	}
	free(env->sigs);
	memset(env, 0, sizeof(*env));
}

/* The one member of obj named key; an error if it is there twice (cJSON keeps both, and
 * two parsers that pick different ones must never disagree on what was signed). */
static int member(const char *origin, const char *where, const cJSON *obj, const char *key,
		  const cJSON **out, sg_error *err)
{
	*out = NULL;
	for (const cJSON *m = obj->child; m; m = m->next) {
		if (!m->string || strcmp(m->string, key))
			continue;
		if (*out)
			return sg_error_set(err, SG_ERR_INPUT, 0, "%s: %s%s: duplicate key", origin, where, key);
		*out = m;
	}
	return 0;
}

static int base64_field(const char *origin, const char *field, const cJSON *item,
			unsigned char **out, size_t *out_len, sg_error *err)
{
	if (!item)
		return sg_error_set(err, SG_ERR_INPUT, 0, "%s: %s: missing", origin, field);
	if (!cJSON_IsString(item))
		return sg_error_set(err, SG_ERR_INPUT, 0, "%s: %s: expected a base64 string", origin, field);
	if (sg_base64_decode(item->valuestring, strlen(item->valuestring), out, out_len, err) < 0)
		return sg_error_prefix(err, "%s: %s", origin, field);
	return 0;
}

static int parse_signature(const char *origin, size_t i, const cJSON *item, sg_dsse_sig *sig,
			   sg_error *err)
{
	char where[48];
	snprintf(where, sizeof(where), "signatures[%zu].", i);
	if (!cJSON_IsObject(item))
		return sg_error_set(err, SG_ERR_INPUT, 0, "%s: signatures[%zu]: expected an object",
				    origin, i);
	const cJSON *keyid, *s;
	if (member(origin, where, item, "keyid", &keyid, err) < 0 ||
	    member(origin, where, item, "sig", &s, err) < 0)
		return -1;
	if (keyid && !cJSON_IsString(keyid))
		return sg_error_set(err, SG_ERR_INPUT, 0, "%s: %skeyid: expected a string", origin, where);
	char field[64];
	snprintf(field, sizeof(field), "%ssig", where);
	if (base64_field(origin, field, s, &sig->sig, &sig->sig_len, err) < 0)
		return -1;
	sig->keyid = keyid ? sg_xstrdup(keyid->valuestring) : NULL;
	return 0;
}

static int check_envelope_keys(const char *origin, const cJSON *root, sg_error *err)
{
	static const char *const known[] = {"payloadType", "payload", "signatures"};
	for (const cJSON *m = root->child; m; m = m->next) {
		size_t i = 0;
		while (i < SG_ARRAY_LEN(known) && strcmp(known[i], m->string))
			i++;
		if (i == SG_ARRAY_LEN(known))
			return sg_error_set(err, SG_ERR_INPUT, 0,
					    "%s: unknown key (expected payloadType, payload, signatures)",
					    origin);
	}
	return 0;
}

cJSON *sg_json_parse_exact(const char *origin, const char *text, size_t len, sg_error *err)
{
	if (len > SG_ENVELOPE_MAX) {
		sg_error_set(err, SG_ERR_INPUT, 0, "%s: larger than %u bytes", origin, SG_ENVELOPE_MAX);
		return NULL;
	}
	if (memchr(text, '\0', len)) {
		sg_error_set(err, SG_ERR_INPUT, 0, "%s: contains a NUL byte: not JSON", origin);
		return NULL;
	}
	/* cJSON decodes \u0000 into a C string that ends there, where other parsers see more:
	 * a signed payload must mean one thing to every reader */
	for (size_t i = 0; i + 1 < len; i++) {
		if (text[i] != '\\')
			continue;
		if (text[i + 1] == 'u' && i + 5 < len && !memcmp(text + i + 2, "0000", 4)) {
			sg_error_set(err, SG_ERR_INPUT, 0, "%s: contains \\u0000 at byte %zu: refused", origin, i);
			return NULL;
		}
		i++; /* the escaped character, a backslash included */
	}
	/* the NUL inside the length makes cJSON refuse trailing garbage */
	sg_autofree char *copy = sg_xstrndup(text, len);
	const char *end = NULL;
	cJSON *root = cJSON_ParseWithLengthOpts(copy, len + 1, &end, true);
	if (!root) {
		size_t off = end && end >= copy && end <= copy + len ? (size_t)(end - copy) : 0;
		sg_error_set(err, SG_ERR_INPUT, 0, "%s: invalid JSON at byte %zu", origin, off);
	}
	return root;
}

static int parse_envelope_object(const char *origin, const cJSON *root, sg_dsse_envelope *env,
				 sg_error *err)
{
	if (!cJSON_IsObject(root))
		return sg_error_set(err, SG_ERR_INPUT, 0, "%s: expected a JSON object (a DSSE envelope)",
				    origin);
	if (check_envelope_keys(origin, root, err) < 0)
		return -1;
	const cJSON *type, *payload, *sigs;
	if (member(origin, "", root, "payloadType", &type, err) < 0 ||
	    member(origin, "", root, "payload", &payload, err) < 0 ||
	    member(origin, "", root, "signatures", &sigs, err) < 0)
		return -1;
	if (!type)
		return sg_error_set(err, SG_ERR_INPUT, 0, "%s: payloadType: missing", origin);
	if (!cJSON_IsString(type))
		return sg_error_set(err, SG_ERR_INPUT, 0, "%s: payloadType: expected a string", origin);
	if (base64_field(origin, "payload", payload, &env->payload, &env->payload_len, err) < 0)
		return -1;
	if (!sigs)
		return sg_error_set(err, SG_ERR_INPUT, 0, "%s: signatures: missing", origin);
	if (!cJSON_IsArray(sigs))
		return sg_error_set(err, SG_ERR_INPUT, 0, "%s: signatures: expected an array", origin);
	env->payload_type = sg_xstrdup(type->valuestring);
	size_t n = (size_t)cJSON_GetArraySize(sigs);
	env->sigs = sg_xcalloc(n ? n : 1, sizeof(*env->sigs));
	for (const cJSON *s = sigs->child; s; s = s->next) {
		if (parse_signature(origin, env->n_sigs, s, &env->sigs[env->n_sigs], err) < 0)
			return -1;
		env->n_sigs++;
	}
	return 0;
}

int sg_dsse_envelope_parse(const char *origin, const char *text, size_t len,
			   sg_dsse_envelope *env, sg_error *err)
{
	memset(env, 0, sizeof(*env));
	cJSON *root = sg_json_parse_exact(origin, text, len, err);
	if (!root)
		return -1;
	int rc = parse_envelope_object(origin, root, env, err);
	cJSON_Delete(root);
	if (rc < 0)
		sg_dsse_envelope_free(env);
	return rc;
}

/* The envelope of a payload, signed by key, as sg_dsse_envelope_json prints it, in three
 * parts: *text up to the payload's opening quote (head_len bytes), the payload's base64
 * (not written), then *tail (from the closing quote). The envelope is printed with an
 * empty payload and split at the first "payload": member (payloadType and the
 * signatures cannot contain that text unescaped), so that a large payload is encoded
 * once, straight to where it goes. Free *text with cJSON_free. */
static int dsse_sign_parts(const sg_key *key, const char *payload_type, const payload_src *src, char **text,
			   size_t *head_len, const char **tail, sg_error *err)
{
	*text = NULL;
	if (!key->has_private)
		return sg_error_set(err, SG_ERR_USAGE, 0, "key %s: cannot sign with a public key", key->id);
	unsigned char sig[SG_ED25519_SIG_LEN];
	sg_autofree char *head = pae_head(payload_type, src->len);
	if (key->signer_fd >= 0) {
		if (signer_sign(key, head, src, sig, err) < 0)
			return -1;
	} else {
		/* libcrypto here (the library's callers): the PAE whole */
		size_t pae_head_len = strlen(head);
		sg_autofree unsigned char *pae = sg_xmalloc(pae_head_len + src->len + 1);
		memcpy(pae, head, pae_head_len);
		if (src->len && src_read(src, 0, pae + pae_head_len, src->len) < 0)
			return sg_error_set(err, SG_ERR_INTERNAL, errno, "signing with %s: reading what to sign", key->id);
		if (sign_here(key, pae, pae_head_len + src->len, sig, err) < 0)
			return -1;
	}
	sg_dsse_sig s = {.keyid = (char *)key->id, .sig = sig, .sig_len = sizeof(sig)};
	sg_dsse_envelope env = {.payload_type = (char *)payload_type, .sigs = &s, .n_sigs = 1};
	cJSON *json = sg_dsse_envelope_json(&env);
	*text = cJSON_Print(json);
	cJSON_Delete(json);
	static const char slot[] = "\"payload\":\t\"\"";
	if (!*text)
		return sg_error_set(err, SG_ERR_INTERNAL, ENOMEM, "signing with %s: building the envelope", key->id);
	char *at = strstr(*text, slot);
	if (!at) {
		cJSON_free(*text);
		*text = NULL;
		return sg_error_set(err, SG_ERR_INTERNAL, 0,
				    "signing with %s: building the envelope: no payload member in its skeleton", key->id);
	}
	*head_len = (size_t)(at - *text) + sizeof(slot) - 2;
	*tail = at + sizeof(slot) - 2;
	return 0;
}

char *sg_dsse_sign(const sg_key *key, const char *payload_type, const void *payload,
		   size_t payload_len, size_t *out_len, sg_error *err)
{
	payload_src src = {.mem = payload ? payload : (const void *)"", .fd = -1, .len = payload_len};
	char *text = NULL;
	size_t head_len = 0;
	const char *tail = NULL;
	if (dsse_sign_parts(key, payload_type, &src, &text, &head_len, &tail, err) < 0)
		return NULL;
	size_t tail_len = strlen(tail);
	size_t b64_len = (payload_len + 2) / 3 * 4;
	size_t len = head_len + b64_len + tail_len + 1;
	char *out = sg_xmalloc(len + 1);
	memcpy(out, text, head_len);
	sg_base64_encode_to(payload, payload_len, out + head_len);
	memcpy(out + head_len + b64_len, tail, tail_len);
	out[len - 1] = '\n';
	out[len] = '\0';
	cJSON_free(text);
	*out_len = len;
	return out;
}

/* The envelope of src written to path in pieces, and its digest. */
static int sign_src_to_file(const sg_key *key, const char *payload_type, const payload_src *src, const char *path,
			    char sha256_hex[65], sg_error *err)
{
	char *text = NULL;
	size_t head_len = 0;
	const char *tail = NULL;
	if (dsse_sign_parts(key, payload_type, src, &text, &head_len, &tail, err) < 0)
		return -1;
	sg_atomic_file f;
	if (sg_atomic_file_open(&f, path, 0644, err) < 0) {
		cJSON_free(text);
		return -1;
	}
	sg_sha256_ctx sha;
	sg_sha256_init(&sha);
	sg_autofree unsigned char *piece = sg_xmalloc(SG_PAYLOAD_PIECE);
	sg_autofree char *b64 = sg_xmalloc(SG_PAYLOAD_PIECE / 3 * 4 + 1);
	int rc = sg_atomic_file_write(&f, text, head_len, err);
	sg_sha256_add(&sha, text, head_len);
	for (size_t off = 0; rc == 0 && off < src->len; off += SG_PAYLOAD_PIECE) {
		size_t n = src->len - off < SG_PAYLOAD_PIECE ? src->len - off : SG_PAYLOAD_PIECE;
		if (src_read(src, off, piece, n) < 0) {
			rc = sg_error_set(err, SG_ERR_INTERNAL, errno, "%s: reading what was signed", path);
			break;
		}
		sg_base64_encode_to(piece, n, b64);
		size_t m = (n + 2) / 3 * 4;
		rc = sg_atomic_file_write(&f, b64, m, err);
		sg_sha256_add(&sha, b64, m);
	}
	size_t tail_len = strlen(tail);
	if (rc == 0)
		rc = sg_atomic_file_write(&f, tail, tail_len, err);
	if (rc == 0)
		rc = sg_atomic_file_write(&f, "\n", 1, err);
	sg_sha256_add(&sha, tail, tail_len);
	sg_sha256_add(&sha, "\n", 1);
	cJSON_free(text);
	if (rc < 0) {
		sg_atomic_file_abort(&f);
		return -1;
	}
	if (sg_atomic_file_commit(&f, err) < 0)
		return -1;
	sg_sha256_ctx_hex(&sha, sha256_hex);
	return 0;
}

int sg_dsse_sign_to_file(const sg_key *key, const char *payload_type, const void *payload, size_t payload_len,
			 const char *path, char sha256_hex[65], sg_error *err)
{
	payload_src src = {.mem = payload ? payload : (const void *)"", .fd = -1, .len = payload_len};
	return sign_src_to_file(key, payload_type, &src, path, sha256_hex, err);
}

int sg_dsse_sign_fd_to_file(const sg_key *key, const char *payload_type, int payload_fd, size_t payload_len,
			    const char *path, char sha256_hex[65], sg_error *err)
{
	payload_src src = {.fd = payload_fd, .len = payload_len};
	return sign_src_to_file(key, payload_type, &src, path, sha256_hex, err);
}

/* Does the signer find sig a signature of pae by its key: 1 yes, 0 no, -1 it could not
 * be asked (it is gone: then it is reaped, and the caller checks in this process). */
static int signer_verify(const sg_key *key, const unsigned char sig[SG_ED25519_SIG_LEN], const unsigned char *pae,
			 size_t pae_len)
{
	if (1 + SG_ED25519_SIG_LEN + pae_len > SG_SIGNER_MAX)
		return -1;
	uint32_t n32 = (uint32_t)(1 + SG_ED25519_SIG_LEN + pae_len);
	char type = SIGNER_VERIFY;
	struct iovec iov[4] = {{&n32, sizeof(n32)},
			       {&type, 1},
			       {(void *)sig, SG_ED25519_SIG_LEN},
			       {(void *)pae, pae_len}};
	unsigned char *reply = NULL;
	ssize_t n = send_iov(key->signer_fd, iov, 4) == 0 ? frame_recv(key->signer_fd, &reply) : -1;
	if (n <= 0) {
		char how[64];
		signer_lost(key, how, sizeof(how));
		return -1;
	}
	sg_buf answer = {0};
	sg_error err = {0};
	int rc = reply_parse("verifying", reply, (size_t)n, &answer, &err) == 0 && answer.len == 1
			 ? answer.data[0] == '1'
			 : -1;
	free(reply);
	sg_buf_free(&answer);
	return rc;
}

static bool signature_valid(const sg_key *key, const sg_dsse_sig *sig, const unsigned char *pae,
			    size_t pae_len)
{
	if (sig->sig_len != SG_ED25519_SIG_LEN)
		return false;
	if (key->signer_fd >= 0 && key->signer_pid > 0) {
		int by_signer = signer_verify(key, sig->sig, pae, pae_len); /* no libcrypto here */
		if (by_signer >= 0)
			return by_signer == 1;
		/* a signer that is gone says nothing about the envelope: check it here */
	}
	return key_materialize(key, NULL) == 0 && verify_here(key, sig->sig, pae, pae_len);
}

/* Untrusted text in a message: at most 80 characters, printable ASCII only. */
static void quote_untrusted(char *out, size_t size, const char *s)
{
	size_t n = 0;
	for (; *s && n + 4 < size && n < 80; s++)
		out[n++] = *s >= 0x20 && *s < 0x7f ? *s : '?';
	if (*s && n + 4 < size) {
		memcpy(out + n, "...", 3);
		n += 3;
	}
	out[n] = '\0';
}

static void describe_signers(const sg_dsse_envelope *env, sg_buf *b)
{
	if (!env->n_sigs) {
		sg_buf_puts(b, "the envelope has no signatures");
		return;
	}
	sg_buf_puts(b, "signed by ");
	for (size_t i = 0; i < env->n_sigs && i < 4; i++) {
		char id[96];
		quote_untrusted(id, sizeof(id), env->sigs[i].keyid ? env->sigs[i].keyid : "(no keyid)");
		sg_buf_printf(b, "%s%s", i ? ", " : "", id);
	}
	if (env->n_sigs > 4)
		sg_buf_printf(b, " and %zu more", env->n_sigs - 4);
}

static int check_signatures(const sg_key *trusted, const char *origin,
			    const sg_dsse_envelope *env, sg_error *err)
{
	size_t pae_len = 0;
	sg_autofree unsigned char *pae = sg_dsse_pae(env->payload_type, env->payload,
						     env->payload_len, &pae_len);
	size_t by_trusted = 0;
	for (size_t i = 0; i < env->n_sigs; i++) {
		const sg_dsse_sig *s = &env->sigs[i];
		if (!s->keyid || strcmp(s->keyid, trusted->id))
			continue;
		by_trusted++;
		if (signature_valid(trusted, s, pae, pae_len))
			return 0;
	}
	if (by_trusted)
		return sg_error_set(err, SG_ERR_VERIFY, 0,
				    "%s: bad signature: the signature by the trusted key %s does not "
				    "match the envelope (changed after it was signed?)",
				    origin, trusted->id);
	sg_buf who = {0};
	describe_signers(env, &who);
	sg_error_set(err, SG_ERR_VERIFY, 0, "%s: no signature by the trusted key %s (%s)", origin,
		     trusted->id, who.data);
	sg_buf_free(&who);
	return -1;
}

unsigned char *sg_dsse_verify(const sg_key *trusted, const char *payload_type,
			      const char *origin, const char *text, size_t len,
			      size_t *payload_len, sg_error *err)
{
	sg_dsse_envelope env;
	if (sg_dsse_envelope_parse(origin, text, len, &env, err) < 0)
		return NULL;
	unsigned char *payload = NULL;
	if (strcmp(env.payload_type, payload_type)) {
		char got[96];
		quote_untrusted(got, sizeof(got), env.payload_type);
		sg_error_set(err, SG_ERR_VERIFY, 0, "%s: payloadType is \"%s\", expected \"%s\"",
			     origin, got, payload_type);
	} else if (check_signatures(trusted, origin, &env, err) == 0) {
		payload = sg_steal_ptr(&env.payload);
		*payload_len = env.payload_len;
	}
	sg_dsse_envelope_free(&env);
	return payload;
}
