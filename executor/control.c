/* control.c: see control.h. */
#include "control.h"
#include "util.h"

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

ssize_t sg_ctl_recv(int fd, struct sg_ctl_msg *m, char *payload, size_t cap)
{
	struct iovec iov[2] = {{m, sizeof(*m)}, {payload, cap}};
	struct msghdr mh = {.msg_iov = iov, .msg_iovlen = payload && cap ? 2 : 1};
	ssize_t n = SG_RETRY(recvmsg(fd, &mh, MSG_CMSG_CLOEXEC));
	if (n == 0)
		return -2;
	if (n < (ssize_t)sizeof(*m))
		return -1;
	return n - (ssize_t)sizeof(*m);
}
