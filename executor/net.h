/* net.h: the sandbox's network namespace. `none` leaves the fresh namespace as the
 * kernel made it (lo down: no network at all); `loopback` brings lo up with libnl-3;
 * `host` shares the host's namespace and is recorded as such. */
#ifndef SHIPGATE_NET_H
#define SHIPGATE_NET_H

#include <shipgate/error.h>

/* Bring up lo in the calling process's network namespace. */
int sg_net_loopback_up(sg_error *err);

#endif
