/* control.h: the channel between the supervisor and the sandbox's init.
 *
 * One SOCK_SEQPACKET socket pair, close-on-exec, never held by the candidate: the
 * supervisor's requests and init's reports are whole messages, a fixed header and an
 * optional payload. EOF on either side means the other is gone: init takes the sandbox
 * down, the supervisor stops waiting for reports. */
#ifndef SHIPGATE_CONTROL_H
#define SHIPGATE_CONTROL_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

enum sg_ctl_type {
	/* supervisor -> init */
	SG_CTL_GO = 1,        /* maps written: build the sandbox */
	SG_CTL_CGROUP_JOIN,   /* init is in the step's cgroup, or joins it by writing "0" to
			       * the `tasks` files of the cgroup v1 hierarchies passed with
			       * it (count of them); rlimit_as, rlimit_nproc: the fallbacks
			       * for limits no cgroup holds (0: none). Start. */
	SG_CTL_COUNT,         /* how many processes besides init and the command? */
	SG_CTL_TCP_CHECK,     /* port: does 127.0.0.1:port accept a connection? */
	SG_CTL_HTTP_GET,      /* port, payload = path: GET it, reply status and body */
	SG_CTL_RUN,           /* payload = NUL-separated argv: run it like the command */
	SG_CTL_STOP,          /* SIGTERM everything, wait timeout_ms, then SIGKILL */
	/* the command -> supervisor, before its exec */
	SG_CTL_LISTENER = 50, /* with SCM_RIGHTS: the seccomp notification listener (trace.c) */
	/* init -> supervisor */
	SG_CTL_SETUP_ERROR = 100, /* errnum, text */
	SG_CTL_READY,         /* caps_left, no_new_privs: about to fork the command */
	SG_CTL_EXITED,        /* status = the command's wait status, count = leftovers */
	SG_CTL_COUNTED,       /* count */
	SG_CTL_TCP_RESULT,    /* status = 1 if accepted, errnum otherwise */
	SG_CTL_HTTP_RESULT,   /* status = HTTP status (0: no answer, errnum), payload = body */
	SG_CTL_RUN_RESULT,    /* status = wait status, flags, payload = stdout then stderr */
};

#define SG_CTL_TIMED_OUT 0x1u   /* RUN_RESULT / HTTP_RESULT: gave up at timeout_ms */
#define SG_CTL_NOT_STARTED 0x2u /* RUN_RESULT: exec failed (errnum) */
#define SG_CTL_TRUNCATED 0x4u   /* HTTP_RESULT: the response filled the buffer; the rest was not read */
/* TCP_RESULT / HTTP_RESULT / RUN_RESULT: the command had ended when the reply was sent.
 * Its EXITED report comes after the reply, possibly after the supervisor has stopped
 * asking (STOP sent): the reply is where the service logic learns it in time. */
#define SG_CTL_COMMAND_GONE 0x4u

struct sg_ctl_msg {
	uint32_t type;
	int32_t errnum;
	int32_t status;
	int32_t pid;
	int64_t count;
	uint32_t caps_left;
	int32_t no_new_privs;
	uint32_t port;
	uint32_t timeout_ms;
	uint32_t flags;
	uint32_t out_len;      /* RUN_RESULT: payload bytes that are stdout (rest: stderr) */
	uint64_t out_total;    /* bytes the process wrote in all, kept or not */
	uint64_t err_total;
	uint64_t elapsed_ms;
	int32_t landlock_abi;  /* READY: the Landlock ABI applied to the command, 0 none */
	uint64_t rlimit_as;    /* CGROUP_JOIN */
	uint64_t rlimit_nproc;
	char text[400];
};

#define SG_CTL_PAYLOAD_MAX 65536
#define SG_CTL_MAX_FDS 8 /* descriptors one message may carry */

/* Send a message with an optional payload in one datagram. */
int sg_ctl_send(int fd, const struct sg_ctl_msg *m, const void *payload, size_t len);
/* Send a message carrying one file descriptor: the trace listener's handover, sent with
 * the flags the traced filter does not observe (SG_TRACE_HANDOVER_SEND_FLAGS). */
int sg_ctl_send_fd(int fd, const struct sg_ctl_msg *m, int passed);
/* Receive one message; returns the payload length (0..cap), -1 on error, -2 at EOF.
 * A descriptor that came with it is stored in *passed (close-on-exec), else -1; passed
 * may be NULL, then any descriptor is closed. */
ssize_t sg_ctl_recv(int fd, struct sg_ctl_msg *m, char *payload, size_t cap);
ssize_t sg_ctl_recv_fd(int fd, struct sg_ctl_msg *m, char *payload, size_t cap, int *passed);
/* Send a message carrying n (0..SG_CTL_MAX_FDS) descriptors. */
int sg_ctl_send_fds(int fd, const struct sg_ctl_msg *m, const int *passed, size_t n);
/* Receive a message and up to max descriptors into passed[] (close-on-exec; *n_passed
 * says how many; any beyond max are closed). A message whose descriptors the kernel cut
 * short is an error (EMSGSIZE), its descriptors closed. */
ssize_t sg_ctl_recv_fds(int fd, struct sg_ctl_msg *m, char *payload, size_t cap, int *passed, size_t max,
			size_t *n_passed);

#endif
