/* test_control.c: the supervisor's channel to init (executor/control.c).
 *
 * A peer that exits with a message of ours unread makes the kernel report ECONNRESET on
 * our end, ahead of what the peer had sent before it went. That is what init does when
 * it fails to build the root after the supervisor sent CGROUP_JOINED (cgroup v1, where
 * the cgroup is made while init builds the root): its setup error must still be read,
 * or the step ends as "failed" without an exit code or a reason (it did, about one
 * sandbox start in five on a loaded machine). */
#include "control.h"
#include "tap.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static void test_setup_error_after_unread(void)
{
	int sv[2]; /* [0] the supervisor's end, [1] init's */
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0) {
		tap_ok(false, "socketpair: %s", strerror(errno));
		return;
	}
	struct sg_ctl_msg joined = {.type = SG_CTL_CGROUP_JOINED};
	tap_ok(sg_ctl_send(sv[0], &joined, NULL, 0) == 0, "the supervisor sends CGROUP_JOINED");
	struct sg_ctl_msg fail = {.type = SG_CTL_SETUP_ERROR, .errnum = ENOENT};
	snprintf(fail.text, sizeof(fail.text), "root filesystem: no /bin");
	tap_ok(sg_ctl_send(sv[1], &fail, NULL, 0) == 0, "init sends its setup error");
	close(sv[1]); /* and exits, CGROUP_JOINED unread */

	struct sg_ctl_msg m;
	memset(&m, 0, sizeof(m));
	ssize_t got = sg_ctl_recv(sv[0], &m, NULL, 0);
	tap_ok(got == 0 && m.type == SG_CTL_SETUP_ERROR && m.errnum == ENOENT &&
		       !strcmp(m.text, "root filesystem: no /bin"),
	       "the setup error is read despite the reset (got %zd, type %d)", got, (int)m.type);
	got = sg_ctl_recv(sv[0], &m, NULL, 0);
	tap_ok(got == -2, "then end of file (got %zd)", got);
	close(sv[0]);
}

static void test_plain_exchange(void)
{
	int sv[2];
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0) {
		tap_ok(false, "socketpair: %s", strerror(errno));
		return;
	}
	struct sg_ctl_msg m = {.type = SG_CTL_RUN};
	tap_ok(sg_ctl_send(sv[0], &m, "a\0b", 3) == 0, "a message with a payload is sent");
	char payload[16];
	struct sg_ctl_msg in;
	ssize_t got = sg_ctl_recv(sv[1], &in, payload, sizeof(payload));
	tap_ok(got == 3 && in.type == SG_CTL_RUN && !memcmp(payload, "a\0b", 3), "and read whole (%zd bytes)",
	       got);
	close(sv[0]);
	tap_ok(sg_ctl_recv(sv[1], &in, payload, sizeof(payload)) == -2, "a closed peer is end of file");
	close(sv[1]);
}

int main(void)
{
	test_plain_exchange();
	test_setup_error_after_unread();
	return tap_done();
}
