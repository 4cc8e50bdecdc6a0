/* net.c: see net.h. */
#include "net.h"
#include "util.h"

#include <linux/rtnetlink.h>
#include <net/if.h>
#include <netlink/msg.h>
#include <netlink/netlink.h>

/* One RTM_NEWLINK request with an ack, built with libnl-3's message API: a fresh network
 * namespace always gives lo the index 1, so no lookup (and no libnl-route cache) is
 * needed, which keeps this off the start-up path's clock. */
int sg_net_loopback_up(sg_error *err)
{
	struct nl_sock *sk = nl_socket_alloc();
	if (!sk)
		return sg_error_set(err, SG_ERR_SANDBOX, ENOMEM, "netlink socket");
	int rc = -1;
	struct nl_msg *msg = NULL;
	int nerr = nl_connect(sk, NETLINK_ROUTE);
	if (nerr < 0) {
		sg_error_set(err, SG_ERR_SANDBOX, 0, "netlink connect: %s", nl_geterror(nerr));
		goto out;
	}
	msg = nlmsg_alloc_simple(RTM_NEWLINK, NLM_F_REQUEST | NLM_F_ACK);
	struct ifinfomsg ifi = {.ifi_family = AF_UNSPEC, .ifi_index = 1, .ifi_flags = IFF_UP,
				.ifi_change = IFF_UP};
	if (!msg || nlmsg_append(msg, &ifi, sizeof(ifi), NLMSG_ALIGNTO) < 0) {
		sg_error_set(err, SG_ERR_SANDBOX, ENOMEM, "netlink message");
		goto out;
	}
	nerr = nl_send_auto(sk, msg);
	if (nerr >= 0)
		nerr = nl_wait_for_ack(sk);
	if (nerr < 0) {
		sg_error_set(err, SG_ERR_SANDBOX, 0, "bring lo up: %s", nl_geterror(nerr));
		goto out;
	}
	rc = 0;
out:
	if (msg)
		nlmsg_free(msg);
	nl_socket_free(sk);
	return rc;
}
