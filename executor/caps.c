/* caps.c: see caps.h. Uses libcap. */
#include "caps.h"
#include "util.h"

#include <fcntl.h>
#include <linux/securebits.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/capability.h>
#include <sys/prctl.h>

int sg_caps_drop_all(sg_error *err)
{
	/* securebits first, while CAP_SETPCAP is still held: root gets nothing back on exec */
	unsigned bits = SECBIT_NOROOT | SECBIT_NOROOT_LOCKED | SECBIT_NO_SETUID_FIXUP_LOCKED |
			SECBIT_KEEP_CAPS_LOCKED | SECBIT_NO_CAP_AMBIENT_RAISE |
			SECBIT_NO_CAP_AMBIENT_RAISE_LOCKED;
	if (prctl(PR_SET_SECUREBITS, bits, 0, 0, 0) < 0)
		return sg_error_set(err, SG_ERR_SANDBOX, errno, "set securebits");
	if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) < 0)
		return sg_error_set(err, SG_ERR_SANDBOX, errno, "clear ambient capabilities");
	/* every capability the running kernel knows, which may be more than our headers
	 * do: the first it does not know is EINVAL (one prctl each, no read before) */
	for (int c = 0;; c++) {
		if (prctl(PR_CAPBSET_DROP, c, 0, 0, 0) == 0)
			continue;
		if (errno == EINVAL && c > 0)
			break;
		return sg_error_set(err, SG_ERR_SANDBOX, errno, "drop capability %d from the bounding set", c);
	}
	cap_t none = cap_init();
	if (!none)
		return sg_error_set(err, SG_ERR_SANDBOX, errno, "cap_init");
	int rc = cap_set_proc(none);
	int e = errno;
	cap_free(none);
	if (rc < 0)
		return sg_error_set(err, SG_ERR_SANDBOX, e, "clear capabilities");
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
		return sg_error_set(err, SG_ERR_SANDBOX, errno, "set no_new_privs");
	return 0;
}

bool sg_caps_count_status(const char *status, unsigned *count)
{
	static const char *const sets[] = {"CapInh:", "CapPrm:", "CapEff:", "CapBnd:", "CapAmb:"};
	uint64_t any = 0;
	for (size_t i = 0; i < SG_ARRAY_LEN(sets); i++) {
		const char *at = status;
		size_t kl = strlen(sets[i]);
		/* at the start of a line */
		while ((at = strstr(at, sets[i])) != NULL && at != status && at[-1] != '\n')
			at += kl;
		if (!at)
			return false;
		const char *hex = at + kl;
		while (*hex == '\t' || *hex == ' ')
			hex++;
		char *end = NULL;
		errno = 0;
		unsigned long long v = strtoull(hex, &end, 16);
		if (errno || end == hex || (*end != '\n' && *end != '\0'))
			return false;
		any |= v;
	}
	*count = (unsigned)__builtin_popcountll(any);
	return true;
}

/* The kernel's own account, the five sets in one read, where /proc is there to ask. */
static bool caps_count_from_status(unsigned *count)
{
	char buf[4096];
	sg_autoclose int fd = open("/proc/self/status", O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return false;
	ssize_t n = SG_RETRY(read(fd, buf, sizeof(buf) - 1));
	if (n <= 0)
		return false;
	buf[n] = '\0';
	return sg_caps_count_status(buf, count);
}

unsigned sg_caps_count_left(void)
{
	unsigned n = 0;
	if (caps_count_from_status(&n))
		return n;
	cap_t caps = cap_get_proc();
	for (cap_value_t c = 0; CAP_IS_SUPPORTED(c); c++) {
		cap_flag_value_t e = CAP_CLEAR, p = CAP_CLEAR, i = CAP_CLEAR;
		if (caps) {
			cap_get_flag(caps, c, CAP_EFFECTIVE, &e);
			cap_get_flag(caps, c, CAP_PERMITTED, &p);
			cap_get_flag(caps, c, CAP_INHERITABLE, &i);
		}
		if (e || p || i || cap_get_bound(c) > 0 || cap_get_ambient(c) > 0)
			n++;
	}
	if (caps)
		cap_free(caps);
	return n;
}
