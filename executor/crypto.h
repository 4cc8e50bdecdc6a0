/* crypto.h: OpenSSL's libcrypto, loaded on first use.
 *
 * libcrypto is the largest library shipgate uses (about 1.4 MB of its pages end up in
 * the supervisor's RSS once it is mapped and relocated), and a plain `shipgate exec`
 * never needs it: only digests and signatures do. So shipgate does not link it; the
 * first call to one of the functions below dlopen()s it (thread-safe, once) and
 * resolves the 33 functions used here. The command line has it initialised without
 * reading any OpenSSL configuration file (no openssl.cnf, no $OPENSSL_CONF: nothing
 * outside shipgate chooses providers or engines for the signer; and 0.25 ms less); in
 * another program that links libshipgate, OpenSSL's set-up stays that program's. A libcrypto that cannot be loaded is fatal for the
 * command line, with a message: it is a declared dependency (scripts/setup installs it).
 * The library must not end its caller's process: its entry points that need libcrypto
 * ask sg_crypto_available() first and report an error instead.
 *
 * Include this header instead of the OpenSSL headers, after any other header that may
 * include them: the function names become macros that call through the table.
 */
#ifndef SHIPGATE_CRYPTO_H
#define SHIPGATE_CRYPTO_H

#include <shipgate/error.h>

#include <openssl/bio.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/opensslv.h>
#include <openssl/pem.h>

#define SG_CRYPTO_FUNCS(X)                                                                    \
	X(BIO_ctrl) X(BIO_free) X(BIO_new) X(BIO_new_mem_buf) X(BIO_s_mem) X(BIO_s_secmem)    \
	X(ERR_clear_error) X(ERR_peek_last_error) X(ERR_reason_error_string)                  \
	X(EVP_DigestSign) X(EVP_DigestSignInit) X(EVP_DigestVerify) X(EVP_DigestVerifyInit)   \
	X(EVP_MD_CTX_free) X(EVP_MD_CTX_new) X(EVP_PKEY_Q_keygen) X(EVP_PKEY_free)            \
	X(EVP_PKEY_get0_type_name) X(EVP_PKEY_get_id) X(EVP_PKEY_get_raw_public_key)          \
	X(EVP_PKEY_new_raw_private_key) X(EVP_PKEY_new_raw_public_key) X(OPENSSL_cleanse)     \
	X(OPENSSL_init_crypto) X(PEM_read_bio_PUBKEY) X(PEM_read_bio_PrivateKey)              \
	X(PEM_write_bio_PUBKEY) X(PEM_write_bio_PrivateKey)

typedef struct sg_crypto_table {
#define SG_CRYPTO_PTR(name) __typeof__(&name) name;
	SG_CRYPTO_FUNCS(SG_CRYPTO_PTR)
#undef SG_CRYPTO_PTR
} sg_crypto_table;

/* The table, libcrypto loaded on the first call; exit(3) with a message if it cannot be. */
const sg_crypto_table *sg_crypto(void);
/* Load libcrypto if need be: 0, or -1 with SG_ERR_INTERNAL saying why it cannot be (the
 * process goes on; sg_crypto() would then exit). */
int sg_crypto_available(sg_error *err);
/* For the command line, before any crypto: never read OpenSSL's configuration file. */
void sg_crypto_skip_config_file(void);
/* Has libcrypto been loaded in this process? (For tests and the benchmark.) */
int sg_crypto_loaded(void);

#ifndef SG_CRYPTO_IMPL
#define BIO_ctrl (sg_crypto()->BIO_ctrl)
#define BIO_free (sg_crypto()->BIO_free)
#define BIO_new (sg_crypto()->BIO_new)
#define BIO_new_mem_buf (sg_crypto()->BIO_new_mem_buf)
#define BIO_s_mem (sg_crypto()->BIO_s_mem)
#define BIO_s_secmem (sg_crypto()->BIO_s_secmem)
#define ERR_clear_error (sg_crypto()->ERR_clear_error)
#define ERR_peek_last_error (sg_crypto()->ERR_peek_last_error)
#define ERR_reason_error_string (sg_crypto()->ERR_reason_error_string)
#define EVP_DigestSign (sg_crypto()->EVP_DigestSign)
#define EVP_DigestSignInit (sg_crypto()->EVP_DigestSignInit)
#define EVP_DigestVerify (sg_crypto()->EVP_DigestVerify)
#define EVP_DigestVerifyInit (sg_crypto()->EVP_DigestVerifyInit)
#define EVP_MD_CTX_free (sg_crypto()->EVP_MD_CTX_free)
#define EVP_MD_CTX_new (sg_crypto()->EVP_MD_CTX_new)
#define EVP_PKEY_Q_keygen (sg_crypto()->EVP_PKEY_Q_keygen)
#define EVP_PKEY_free (sg_crypto()->EVP_PKEY_free)
#define EVP_PKEY_get0_type_name (sg_crypto()->EVP_PKEY_get0_type_name)
#define EVP_PKEY_get_id (sg_crypto()->EVP_PKEY_get_id)
#define EVP_PKEY_get_raw_public_key (sg_crypto()->EVP_PKEY_get_raw_public_key)
#define EVP_PKEY_new_raw_private_key (sg_crypto()->EVP_PKEY_new_raw_private_key)
#define EVP_PKEY_new_raw_public_key (sg_crypto()->EVP_PKEY_new_raw_public_key)
#define OPENSSL_cleanse (sg_crypto()->OPENSSL_cleanse)
#define OPENSSL_init_crypto (sg_crypto()->OPENSSL_init_crypto)
#define PEM_read_bio_PUBKEY (sg_crypto()->PEM_read_bio_PUBKEY)
#define PEM_read_bio_PrivateKey (sg_crypto()->PEM_read_bio_PrivateKey)
#define PEM_write_bio_PUBKEY (sg_crypto()->PEM_write_bio_PUBKEY)
#define PEM_write_bio_PrivateKey (sg_crypto()->PEM_write_bio_PrivateKey)
#endif

#endif
