/* test_control.c: the supervisor's channel to init (executor/control.c).
 *
 * A peer that exits with a message of ours unread makes the kernel report ECONNRESET on
 * our end, ahead of what the peer had sent before it went. That is what init does when
 * it fails to build the root after the supervisor sent CGROUP_JOIN (cgroup v1, where
 * the cgroup is made while init builds the root): its setup error must still be read,
 * or the step ends as "failed" without an exit code or a reason (it did, about one
 * sandbox start in five on a loaded machine). */
#include "control.h"
#include "tap.h"
#include "util.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

static void test_setup_error_after_unread(void)
{
	int sv[2]; /* [0] the supervisor's end, [1] init's */
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0) {
		tap_ok(false, "socketpair: %s", strerror(errno));
		return;
	}
	struct sg_ctl_msg joined = {.type = SG_CTL_CGROUP_JOIN};
	tap_ok(sg_ctl_send(sv[0], &joined, NULL, 0) == 0, "the supervisor sends CGROUP_JOIN");
	struct sg_ctl_msg fail = {.type = SG_CTL_SETUP_ERROR, .errnum = ENOENT};
	snprintf(fail.text, sizeof(fail.text), "root filesystem: no /bin");
	tap_ok(sg_ctl_send(sv[1], &fail, NULL, 0) == 0, "init sends its setup error");
	close(sv[1]); /* and exits, CGROUP_JOIN unread */

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

/* CGROUP_JOIN carries one `tasks` file per cgroup v1 hierarchy: every descriptor arrives,
 * in order; a message with more than the receiver takes is refused whole, none kept. */
static void test_descriptors(void)
{
	int sv[2];
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0) {
		tap_ok(false, "socketpair: %s", strerror(errno));
		return;
	}
	int pipes[3][2];
	int ends[3];
	for (int i = 0; i < 3; i++) {
		if (pipe(pipes[i]) < 0) {
			tap_ok(false, "pipe: %s", strerror(errno));
			return;
		}
		ends[i] = pipes[i][1];
	}
	struct sg_ctl_msg m = {.type = SG_CTL_CGROUP_JOIN, .count = 3};
	tap_ok(sg_ctl_send_fds(sv[0], &m, ends, 3) == 0, "three descriptors are sent");
	int got[SG_CTL_MAX_FDS];
	size_t n = 99;
	struct sg_ctl_msg in;
	ssize_t r = sg_ctl_recv_fds(sv[1], &in, NULL, 0, got, SG_CTL_MAX_FDS, &n);
	tap_ok(r == 0 && in.type == SG_CTL_CGROUP_JOIN && in.count == 3 && n == 3,
	       "and received with the message (got %zd, %zu descriptors)", r, n);
	bool same = n == 3;
	for (size_t i = 0; same && i < n; i++) {
		char c = (char)('a' + i), back = 0;
		same = write(got[i], &c, 1) == 1 && read(pipes[i][0], &back, 1) == 1 && back == c;
	}
	tap_ok(same, "in the order sent, each the pipe it was");
	for (size_t i = 0; i < n && i < SG_CTL_MAX_FDS; i++)
		close(got[i]);

	/* none: the plain message */
	struct sg_ctl_msg none = {.type = SG_CTL_CGROUP_JOIN};
	n = 99;
	bool plain = sg_ctl_send_fds(sv[0], &none, NULL, 0) == 0 &&
		     sg_ctl_recv_fds(sv[1], &in, NULL, 0, got, SG_CTL_MAX_FDS, &n) == 0;
	tap_ok(plain && n == 0, "a message without descriptors has none (%zu)", n);

	/* more than the receiver has room for: cut by the kernel (MSG_CTRUNC), refused */
	int many[SG_CTL_MAX_FDS + 4];
	for (size_t i = 0; i < SG_ARRAY_LEN(many); i++)
		many[i] = pipes[0][1];
	struct iovec iov = {&m, sizeof(m)};
	union {
		char buf[CMSG_SPACE(sizeof(many))];
		struct cmsghdr align;
	} u;
	memset(&u, 0, sizeof(u));
	struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = u.buf, .msg_controllen = sizeof(u.buf)};
	struct cmsghdr *c = CMSG_FIRSTHDR(&mh);
	c->cmsg_level = SOL_SOCKET;
	c->cmsg_type = SCM_RIGHTS;
	c->cmsg_len = CMSG_LEN(sizeof(many));
	memcpy(CMSG_DATA(c), many, sizeof(many));
	tap_ok(sendmsg(sv[0], &mh, 0) == (ssize_t)sizeof(m), "a message with %zu descriptors is sent raw",
	       SG_ARRAY_LEN(many));
	n = 99;
	errno = 0;
	r = sg_ctl_recv_fds(sv[1], &in, NULL, 0, got, SG_CTL_MAX_FDS, &n);
	tap_ok(r == -1 && errno == EMSGSIZE && n == 0, "and refused as cut short (got %zd, %s, %zu kept)", r,
	       strerror(errno), n);
	tap_ok(sg_ctl_send_fds(sv[0], &m, many, SG_CTL_MAX_FDS + 1) < 0 && errno == EINVAL,
	       "sending more than SG_CTL_MAX_FDS is refused");
	for (int i = 0; i < 3; i++) {
		close(pipes[i][0]);
		close(pipes[i][1]);
	}
	close(sv[0]);
	close(sv[1]);
}

int main(void)
{
	test_descriptors();
	test_plain_exchange();
	test_setup_error_after_unread();
	return tap_done();
}
