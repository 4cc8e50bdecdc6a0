/* supervisor.c: the poll loop that watches a running sandbox (see supervisor.h).
 *
 * Output is read as it comes on both pipes, so a command that fills one pipe while we
 * wait on the other cannot deadlock us. Each stream is hashed in full, counted in full,
 * kept in its log up to the cap, and its last SG_TAIL_BYTES are kept for the evidence.
 * The timeout is a timerfd of our own; SIGINT, SIGTERM and SIGHUP arrive on a signalfd.
 */
#include "supervisor.h"
#include "digest.h"
#include "util.h"

#include <poll.h>
#include <signal.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/syscall.h>
#include <sys/timerfd.h>
#include <sys/wait.h>

typedef struct stream_state {
	int fd;
	sg_sha256 *hash;
	uint64_t bytes;
	uint64_t kept;
	uint64_t cap;
	sg_output_sink sink;
	char ring[SG_TAIL_BYTES];
	size_t ring_len; /* bytes valid in ring */
	size_t ring_pos; /* next write position */
} stream_state;

static void stream_init(stream_state *s, int fd, uint64_t cap, sg_output_sink sink)
{
	memset(s, 0, sizeof(*s));
	s->fd = fd;
	s->cap = cap;
	s->sink = sink;
	if (fd >= 0)
		s->hash = sg_sha256_new();
}

static void stream_consume(stream_state *s, const char *buf, size_t n)
{
	sg_sha256_update(s->hash, buf, n);
	s->bytes += n;
	if (s->sink.log_fd >= 0 && s->kept < s->cap) {
		size_t keep = (size_t)(s->cap - s->kept < n ? s->cap - s->kept : n);
		if (sg_write_all(s->sink.log_fd, buf, keep) == 0)
			s->kept += keep;
	}
	if (s->sink.passthrough_fd >= 0)
		(void)sg_write_all(s->sink.passthrough_fd, buf, n);
	for (size_t i = 0; i < n;) {
		size_t chunk = SG_TAIL_BYTES - s->ring_pos;
		if (chunk > n - i)
			chunk = n - i;
		memcpy(s->ring + s->ring_pos, buf + i, chunk);
		s->ring_pos = (s->ring_pos + chunk) % SG_TAIL_BYTES;
		if (s->ring_len < SG_TAIL_BYTES)
			s->ring_len = s->ring_len + chunk > SG_TAIL_BYTES ? SG_TAIL_BYTES : s->ring_len + chunk;
		i += chunk;
	}
}

/* Read what is there; returns false at EOF or error. */
static bool stream_read(stream_state *s)
{
	char buf[65536];
	ssize_t n = SG_RETRY(read(s->fd, buf, sizeof(buf)));
	if (n <= 0)
		return false;
	stream_consume(s, buf, (size_t)n);
	return true;
}

static void stream_finish(stream_state *s, sg_stream_evidence *ev)
{
	if (!s->hash) {
		sg_sha256_hex("", 0, ev->sha256);
		ev->tail = sg_xstrdup("");
		return;
	}
	sg_sha256_final_hex(s->hash, ev->sha256);
	s->hash = NULL;
	ev->bytes = s->bytes;
	ev->truncated = s->bytes > s->cap;
	ev->tail = sg_xmalloc(s->ring_len + 1);
	size_t start = (s->ring_pos + SG_TAIL_BYTES - s->ring_len) % SG_TAIL_BYTES;
	for (size_t i = 0; i < s->ring_len; i++)
		ev->tail[i] = s->ring[(start + i) % SG_TAIL_BYTES];
	ev->tail[s->ring_len] = '\0';
	/* a NUL inside the output would cut the tail short: show it as a space */
	for (size_t i = 0; i < s->ring_len; i++)
		if (ev->tail[i] == '\0')
			ev->tail[i] = ' ';
}

static void kill_sandbox(const sg_supervise_io *io)
{
	syscall(SYS_pidfd_send_signal, io->pidfd, SIGKILL, NULL, 0);
	if (io->cgroup)
		sg_cgroup_kill(io->cgroup);
}

static void handle_msg(const struct sg_init_msg *m, sg_sandbox_result *r, sg_supervise_outcome *oc,
		       bool *exited, bool *counted, uint64_t now_ns, uint64_t start_ns)
{
	switch (m->type) {
	case SG_MSG_SETUP_ERROR:
		oc->setup_failed = true;
		oc->setup_errno = m->errnum;
		snprintf(oc->setup_error, sizeof(oc->setup_error), "%s", m->text);
		break;
	case SG_MSG_READY:
		oc->ready = true;
		oc->caps_left = m->caps_left;
		oc->no_new_privs = m->no_new_privs == 1;
		break;
	case SG_MSG_EXITED:
		*exited = true;
		if (WIFEXITED(m->wait_status)) {
			r->exit_code = WEXITSTATUS(m->wait_status);
		} else if (WIFSIGNALED(m->wait_status)) {
			r->signal = WTERMSIG(m->wait_status);
			r->core_dumped = WCOREDUMP(m->wait_status);
		}
		if (!*counted)
			r->leftover_processes = m->count;
		r->wall_ms = (now_ns - start_ns) / 1000000u;
		break;
	case SG_MSG_COUNT:
		*counted = true;
		r->leftover_processes = m->count;
		break;
	default:
		break;
	}
}

void sg_supervise(const sg_supervise_io *io, sg_sandbox_result *r, sg_supervise_outcome *oc)
{
	memset(oc, 0, sizeof(*oc));
	stream_state out, err;
	stream_init(&out, io->out_r, io->output_cap, io->out_sink);
	stream_init(&err, io->err_r, io->output_cap, io->err_sink);

	sigset_t sigs;
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGINT);
	sigaddset(&sigs, SIGTERM);
	sigaddset(&sigs, SIGHUP);
	sigset_t old;
	sigprocmask(SIG_BLOCK, &sigs, &old);
	int sigfd = signalfd(-1, &sigs, SFD_CLOEXEC | SFD_NONBLOCK);

	int timerfd = -1;
	if (io->timeout_ms) {
		timerfd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
		uint64_t deadline = io->t0_ns + io->timeout_ms * 1000000u;
		struct itimerspec its = {.it_value = {(time_t)(deadline / 1000000000u),
						      (long)(deadline % 1000000000u)}};
		timerfd_settime(timerfd, TFD_TIMER_ABSTIME, &its, NULL);
	}

	bool exec_open = io->exec_r >= 0, report_open = io->report_r >= 0;
	bool init_alive = true, exited = false, counted = false, killed = false;
	uint64_t start_ns = io->t0_ns;
	uint64_t count_deadline_ns = 0, drain_deadline_ns = 0;
	char report_buf[sizeof(struct sg_init_msg)];
	size_t report_len = 0;

	for (;;) {
		bool out_open = out.fd >= 0, err_open = err.fd >= 0;
		if (!init_alive && !out_open && !err_open && !report_open && !exec_open)
			break;
		uint64_t now = sg_monotonic_ns();
		if (!init_alive && drain_deadline_ns && now > drain_deadline_ns)
			break; /* something outside the namespace holds a pipe: stop waiting */
		if (count_deadline_ns && now > count_deadline_ns && !killed) {
			kill_sandbox(io);
			killed = true;
		}
		struct pollfd pfd[7];
		int kinds[7];
		int n = 0;
#define ADD(fdv, kind)                                                                           \
	do {                                                                                     \
		pfd[n] = (struct pollfd){.fd = (fdv), .events = POLLIN};                         \
		kinds[n++] = (kind);                                                             \
	} while (0)
		if (out_open)
			ADD(out.fd, 0);
		if (err_open)
			ADD(err.fd, 1);
		if (report_open)
			ADD(io->report_r, 2);
		if (exec_open)
			ADD(io->exec_r, 3);
		if (init_alive)
			ADD(io->pidfd, 4);
		if (sigfd >= 0)
			ADD(sigfd, 5);
		if (timerfd >= 0)
			ADD(timerfd, 6);
#undef ADD
		int wait_ms = -1;
		if (count_deadline_ns && !killed)
			wait_ms = (int)((count_deadline_ns - now) / 1000000u) + 1;
		if (!init_alive)
			wait_ms = 100;
		int ready = poll(pfd, (nfds_t)n, wait_ms);
		if (ready < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		now = sg_monotonic_ns();
		for (int i = 0; i < n; i++) {
			if (!pfd[i].revents)
				continue;
			switch (kinds[i]) {
			case 0:
				if (!stream_read(&out)) {
					close(out.fd);
					out.fd = -1;
				}
				break;
			case 1:
				if (!stream_read(&err)) {
					close(err.fd);
					err.fd = -1;
				}
				break;
			case 2: {
				ssize_t got = SG_RETRY(read(io->report_r, report_buf + report_len,
							    sizeof(report_buf) - report_len));
				if (got <= 0) {
					report_open = false;
					break;
				}
				report_len += (size_t)got;
				if (report_len == sizeof(report_buf)) {
					struct sg_init_msg m;
					memcpy(&m, report_buf, sizeof(m));
					report_len = 0;
					handle_msg(&m, r, oc, &exited, &counted, now, start_ns);
					if (m.type == SG_MSG_COUNT && !killed) {
						kill_sandbox(io);
						killed = true;
					}
				}
				break;
			}
			case 3: {
				int e = 0;
				ssize_t got = SG_RETRY(read(io->exec_r, &e, sizeof(e)));
				if (got == (ssize_t)sizeof(e)) {
					oc->exec_errno = e;
				} else if (got == 0 && !oc->setup_failed && oc->ready) {
					r->started = true;
					start_ns = now;
				}
				exec_open = false;
				break;
			}
			case 4:
				init_alive = false;
				drain_deadline_ns = now + 2000000000u;
				if (!exited && !r->wall_ms)
					r->wall_ms = (now - start_ns) / 1000000u;
				break;
			case 5: {
				struct signalfd_siginfo si;
				while (read(sigfd, &si, sizeof(si)) == (ssize_t)sizeof(si))
					r->interrupted = true;
				if (io->interrupted)
					*io->interrupted = 1;
				if (!killed) {
					kill_sandbox(io);
					killed = true;
				}
				break;
			}
			case 6: {
				uint64_t ticks;
				(void)!read(timerfd, &ticks, sizeof(ticks));
				close(timerfd);
				timerfd = -1;
				if (exited)
					break;
				r->timed_out = true;
				r->limits_hit |= SG_LIMIT_TIMEOUT;
				r->wall_ms = (now - start_ns) / 1000000u;
				/* ask init what is still running, then kill regardless */
				if (sg_write_all(io->ctl_w, "C", 1) == 0)
					count_deadline_ns = now + 250000000u;
				else if (!killed) {
					kill_sandbox(io);
					killed = true;
				}
				break;
			}
			default:
				break;
			}
		}
	}
	if (out.fd >= 0)
		close(out.fd);
	if (err.fd >= 0)
		close(err.fd);
	stream_finish(&out, &r->out);
	stream_finish(&err, &r->err);
	if (out.bytes > io->output_cap || err.bytes > io->output_cap)
		r->limits_hit |= (io->out_r >= 0) ? SG_LIMIT_OUTPUT : 0;
	if (timerfd >= 0)
		close(timerfd);
	if (sigfd >= 0)
		close(sigfd);
	sigprocmask(SIG_SETMASK, &old, NULL);
}
