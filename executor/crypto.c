/* crypto.c: libcrypto loaded on first use (see crypto.h). */
#define SG_CRYPTO_IMPL
#include "crypto.h"

#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SG_STR2(x) #x
#define SG_STR(x) SG_STR2(x)
/* the soname of the major version we were compiled against */
#define SG_LIBCRYPTO_SONAME "libcrypto.so." SG_STR(OPENSSL_VERSION_MAJOR)

static sg_crypto_table sg_crypto_fns;
static pthread_once_t sg_crypto_once = PTHREAD_ONCE_INIT;
static int sg_crypto_is_loaded;
/* why it could not be loaded (written once, under sg_crypto_once) */
static char sg_crypto_failure[512];
/* set by the command line before anything loads libcrypto */
static int sg_crypto_no_config;

void sg_crypto_skip_config_file(void)
{
	__atomic_store_n(&sg_crypto_no_config, 1, __ATOMIC_RELEASE);
}

static void sg_crypto_load(void)
{
	void *lib = dlopen(SG_LIBCRYPTO_SONAME, RTLD_NOW | RTLD_LOCAL);
	if (!lib) {
		snprintf(sg_crypto_failure, sizeof(sg_crypto_failure),
			 "cannot load OpenSSL's %s: %s (scripts/setup installs it)", SG_LIBCRYPTO_SONAME, dlerror());
		return;
	}
	/* memcpy: ISO C has no cast from an object pointer to a function pointer */
#define SG_CRYPTO_RESOLVE(name)                                                                       \
	do {                                                                                          \
		void *sym = dlsym(lib, #name);                                                        \
		if (!sym) {                                                                           \
			snprintf(sg_crypto_failure, sizeof(sg_crypto_failure), "%s has no %s",        \
				 SG_LIBCRYPTO_SONAME, #name);                                         \
			return;                                                                       \
		}                                                                                     \
		memcpy(&sg_crypto_fns.name, &sym, sizeof(sym));                                       \
	} while (0);
	SG_CRYPTO_FUNCS(SG_CRYPTO_RESOLVE)
#undef SG_CRYPTO_RESOLVE
	/* before any other call: once libcrypto has initialised itself, with the config. Only
	 * for our own command line: in another program, OpenSSL's set-up is that program's */
	if (__atomic_load_n(&sg_crypto_no_config, __ATOMIC_ACQUIRE) &&
	    sg_crypto_fns.OPENSSL_init_crypto(OPENSSL_INIT_NO_LOAD_CONFIG, NULL) != 1) {
		snprintf(sg_crypto_failure, sizeof(sg_crypto_failure), "%s: OPENSSL_init_crypto failed",
			 SG_LIBCRYPTO_SONAME);
		return;
	}
	__atomic_store_n(&sg_crypto_is_loaded, 1, __ATOMIC_RELEASE);
}

/* Load it once; whether that worked. */
static int sg_crypto_try(void)
{
	if (!__atomic_load_n(&sg_crypto_is_loaded, __ATOMIC_ACQUIRE))
		pthread_once(&sg_crypto_once, sg_crypto_load);
	return __atomic_load_n(&sg_crypto_is_loaded, __ATOMIC_ACQUIRE);
}

const sg_crypto_table *sg_crypto(void)
{
	if (!sg_crypto_try()) {
		fprintf(stderr, "shipgate: %s\n", sg_crypto_failure);
		exit(3);
	}
	return &sg_crypto_fns;
}

int sg_crypto_available(sg_error *err)
{
	if (sg_crypto_try())
		return 0;
	return sg_error_set(err, SG_ERR_INTERNAL, 0, "%s", sg_crypto_failure);
}

int sg_crypto_loaded(void)
{
	return __atomic_load_n(&sg_crypto_is_loaded, __ATOMIC_ACQUIRE);
}
