/* test_caps.c: the count of capabilities left that init reports as evidence, read from
 * the kernel's own /proc/PID/status (executor/caps.c). */
#include "caps.h"
#include "tap.h"

#include <stdio.h>
#include <sys/capability.h>
#include <string.h>

static const char *status(char *buf, size_t len, const char *inh, const char *prm, const char *eff,
			  const char *bnd, const char *amb)
{
	snprintf(buf, len,
		 "Name:\tsh\nUmask:\t0022\nState:\tR (running)\nUid:\t0\t0\t0\t0\n"
		 "CapInh:\t%s\nCapPrm:\t%s\nCapEff:\t%s\nCapBnd:\t%s\nCapAmb:\t%s\nNoNewPrivs:\t1\n",
		 inh, prm, eff, bnd, amb);
	return buf;
}

int main(void)
{
	char buf[1024];
	unsigned n = 99;
	const char *z = "0000000000000000";

	TAP_OK(sg_caps_count_status(status(buf, sizeof(buf), z, z, z, z, z), &n));
	tap_is_int(n, 0, "every set empty: none left");

	n = 99;
	TAP_OK(sg_caps_count_status(status(buf, sizeof(buf), z, z, z, "000001ffffffffff", z), &n));
	tap_is_int(n, 41, "only the bounding set, full (41 capabilities): all 41 counted");

	n = 99;
	TAP_OK(sg_caps_count_status(status(buf, sizeof(buf), z, "0000000000000003", "0000000000000001", z,
					   "0000000000200000"),
				    &n));
	tap_is_int(n, 3, "CAP_CHOWN and CAP_DAC_OVERRIDE permitted, one also effective, CAP_SYS_ADMIN ambient: 3");

	n = 99;
	TAP_OK(sg_caps_count_status(status(buf, sizeof(buf), "0000000000000400", z, z, z, z), &n));
	tap_is_int(n, 1, "one inheritable capability is counted too");

	/* what is not the kernel's format is not believed (the caller falls back to libcap) */
	snprintf(buf, sizeof(buf), "CapInh:\t0\nCapPrm:\t0\nCapEff:\t0\nCapBnd:\t0\n");
	tap_ok(!sg_caps_count_status(buf, &n), "a status without CapAmb is refused");
	tap_ok(!sg_caps_count_status(status(buf, sizeof(buf), z, z, "zz", z, z), &n),
	       "a set that is not hex is refused");
	tap_ok(!sg_caps_count_status("XCapInh:\t0\nCapPrm:\t0\nCapEff:\t0\nCapBnd:\t0\nCapAmb:\t0\n", &n),
	       "a key must start its line");

	/* and ours, now: the same answer as libcap's view of this process, set by set */
	unsigned left = sg_caps_count_left(), want = 0;
	cap_t caps = cap_get_proc();
	for (cap_value_t c = 0; CAP_IS_SUPPORTED(c); c++) {
		cap_flag_value_t e = CAP_CLEAR, p = CAP_CLEAR, i = CAP_CLEAR;
		cap_get_flag(caps, c, CAP_EFFECTIVE, &e);
		cap_get_flag(caps, c, CAP_PERMITTED, &p);
		cap_get_flag(caps, c, CAP_INHERITABLE, &i);
		if (e || p || i || cap_get_bound(c) > 0 || cap_get_ambient(c) > 0)
			want++;
	}
	cap_free(caps);
	tap_is_int(left, want, "this process's own count is libcap's");
	return tap_done();
}
