/* caps.c: see caps.h. Uses libcap. */
#include "caps.h"
#include "util.h"

#include <linux/securebits.h>
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
	if (cap_reset_ambient() < 0)
		return sg_error_set(err, SG_ERR_SANDBOX, errno, "clear ambient capabilities");
	for (cap_value_t c = 0; c <= CAP_LAST_CAP || CAP_IS_SUPPORTED(c); c++) {
		if (!CAP_IS_SUPPORTED(c))
			break;
		if (cap_drop_bound(c) < 0)
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

unsigned sg_caps_count_left(void)
{
	unsigned n = 0;
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
