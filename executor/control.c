/* control.c: see control.h. */
#include "control.h"
#include "policy.h"
#include "util.h"

#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>

int sg_ctl_send(int fd, const struct sg_ctl_msg *m, const void *payload, size_t len)
{
	if (len > SG_CTL_PAYLOAD_MAX)
		len = SG_CTL_PAYLOAD_MAX;
	struct iovec iov[2] = {{(void *)m, sizeof(*m)}, {(void *)payload, len}};
	struct msghdr mh = {.msg_iov = iov, .msg_iovlen = len ? 2 : 1};
	ssize_t n = SG_RETRY(sendmsg(fd, &mh, MSG_NOSIGNAL));
	return n == (ssize_t)(sizeof(*m) + len) ? 0 : -1;
}

_Static_assert(SG_TRACE_HANDOVER_SEND_FLAGS == (MSG_NOSIGNAL | MSG_CMSG_CLOEXEC), "the handover's flags");

static int send_fds(int fd, const struct sg_ctl_msg *m, const int *passed, size_t n, int flags)
{
	struct iovec iov = {(void *)m, sizeof(*m)};
	union {
		char buf[CMSG_SPACE(sizeof(int) * SG_CTL_MAX_FDS)];
		struct cmsghdr align;
	} u;
	if (n == 0 || n > SG_CTL_MAX_FDS) {
		errno = EINVAL;
		return -1;
	}
	memset(&u, 0, sizeof(u));
	struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = u.buf,
			    .msg_controllen = CMSG_SPACE(sizeof(int) * n)};
	struct cmsghdr *c = CMSG_FIRSTHDR(&mh);
	c->cmsg_level = SOL_SOCKET;
	c->cmsg_type = SCM_RIGHTS;
	c->cmsg_len = CMSG_LEN(sizeof(int) * n);
	memcpy(CMSG_DATA(c), passed, sizeof(int) * n);
	ssize_t sent = SG_RETRY(sendmsg(fd, &mh, flags));
	return sent == (ssize_t)sizeof(*m) ? 0 : -1;
}

int sg_ctl_send_fd(int fd, const struct sg_ctl_msg *m, int passed)
{
	/* the traced filter lets exactly these flags through unobserved: this send is how
	 * the supervisor gets the listener that would observe it */
	return send_fds(fd, m, &passed, 1, SG_TRACE_HANDOVER_SEND_FLAGS);
}

int sg_ctl_send_fds(int fd, const struct sg_ctl_msg *m, const int *passed, size_t n)
{
	return n ? send_fds(fd, m, passed, n, MSG_NOSIGNAL) : sg_ctl_send(fd, m, NULL, 0);
}

ssize_t sg_ctl_recv_fds(int fd, struct sg_ctl_msg *m, char *payload, size_t cap, int *passed, size_t max,
			size_t *n_passed)
{
	struct iovec iov[2] = {{m, sizeof(*m)}, {payload, cap}};
	union {
		char buf[CMSG_SPACE(sizeof(int) * SG_CTL_MAX_FDS)];
		struct cmsghdr align;
	} u;
	struct msghdr mh = {.msg_iov = iov, .msg_iovlen = payload && cap ? 2 : 1, .msg_control = u.buf,
			    .msg_controllen = sizeof(u.buf)};
	size_t kept = 0;
	ssize_t n = SG_RETRY(recvmsg(fd, &mh, MSG_CMSG_CLOEXEC));
	/* A peer that exits with a message of ours unread (init failing to build the root
	 * before it read CGROUP_JOIN) makes the kernel report ECONNRESET, once, ahead of
	 * what the peer sent before it went (its setup error): reporting the error clears
	 * it, so read again for the messages still queued (0 once there are none). */
	if (n < 0 && errno == ECONNRESET) {
		mh.msg_controllen = sizeof(u.buf);
		n = SG_RETRY(recvmsg(fd, &mh, MSG_CMSG_CLOEXEC));
	}
	for (struct cmsghdr *c = n > 0 ? CMSG_FIRSTHDR(&mh) : NULL; c; c = CMSG_NXTHDR(&mh, c)) {
		if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
			continue;
		size_t nfds = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
		for (size_t i = 0; i < nfds; i++) {
			int got;
			memcpy(&got, CMSG_DATA(c) + i * sizeof(int), sizeof(int));
			if (passed && kept < max)
				passed[kept++] = got;
			else
				close(got);
		}
	}
	if (n_passed)
		*n_passed = kept;
	/* descriptors cut off for want of room: the message is not whole */
	if (n > 0 && (mh.msg_flags & MSG_CTRUNC)) {
		for (size_t i = 0; i < kept; i++)
			close(passed[i]);
		if (n_passed)
			*n_passed = 0;
		errno = EMSGSIZE;
		return -1;
	}
	if (n == 0)
		return -2;
	if (n < (ssize_t)sizeof(*m))
		return -1;
	return n - (ssize_t)sizeof(*m);
}

ssize_t sg_ctl_recv_fd(int fd, struct sg_ctl_msg *m, char *payload, size_t cap, int *passed)
{
	size_t got = 0;
	int fds[1] = {-1};
	ssize_t n = sg_ctl_recv_fds(fd, m, payload, cap, passed ? fds : NULL, passed ? 1 : 0, &got);
	if (passed)
		*passed = got ? fds[0] : -1;
	return n;
}

ssize_t sg_ctl_recv(int fd, struct sg_ctl_msg *m, char *payload, size_t cap)
{
	return sg_ctl_recv_fd(fd, m, payload, cap, NULL);
}
