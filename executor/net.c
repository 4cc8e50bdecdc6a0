/* net.c: see net.h. */
#include "net.h"
#include "util.h"

#include <net/if.h>
#include <netlink/netlink.h>
#include <netlink/route/link.h>

int sg_net_loopback_up(sg_error *err)
{
	struct nl_sock *sk = nl_socket_alloc();
	if (!sk)
		return sg_error_set(err, SG_ERR_SANDBOX, ENOMEM, "netlink socket");
	int rc = -1;
	struct rtnl_link *lo = NULL, *change = NULL;
	int nerr = nl_connect(sk, NETLINK_ROUTE);
	if (nerr < 0) {
		sg_error_set(err, SG_ERR_SANDBOX, 0, "netlink connect: %s", nl_geterror(nerr));
		goto out;
	}
	nerr = rtnl_link_get_kernel(sk, 0, "lo", &lo);
	if (nerr < 0) {
		sg_error_set(err, SG_ERR_SANDBOX, 0, "find lo: %s", nl_geterror(nerr));
		goto out;
	}
	change = rtnl_link_alloc();
	if (!change) {
		sg_error_set(err, SG_ERR_SANDBOX, ENOMEM, "rtnl_link_alloc");
		goto out;
	}
	rtnl_link_set_flags(change, IFF_UP);
	nerr = rtnl_link_change(sk, lo, change, 0);
	if (nerr < 0) {
		sg_error_set(err, SG_ERR_SANDBOX, 0, "bring lo up: %s", nl_geterror(nerr));
		goto out;
	}
	rc = 0;
out:
	if (change)
		rtnl_link_put(change);
	if (lo)
		rtnl_link_put(lo);
	nl_socket_free(sk);
	return rc;
}
