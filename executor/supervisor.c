/* supervisor.c: the poll loop that watches a running sandbox (see supervisor.h).
 *
 * Output is read as it comes on both pipes, so a command that fills one pipe while we
 * wait on the other cannot deadlock us. Each stream is hashed in full, counted in full,
 * kept in its log up to the cap, and its last SG_TAIL_BYTES are kept for the evidence.
 * The timeout is a timerfd of our own; SIGINT, SIGTERM and SIGHUP arrive on a signalfd.
 */
#include "supervisor.h"
#include "control.h"
#include "digest.h"
#include "trace.h"
#include "treesize.h"
#include "util.h"

#include <poll.h>
#include <pthread.h>
#include <sys/statvfs.h>
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
	uint64_t full_kept;
	/* what waits to be copied to the passthrough fd: the supervisor never blocks on a
	 * reader that does not read (its timer and signals must keep working) */
	sg_buf pending;
	size_t pending_off;
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
	if (s->sink.passthrough_fd >= 0 && s->pending.len - s->pending_off < 4 * (1u << 20))
		sg_buf_append(&s->pending, buf, n); /* beyond 4 MiB unread, the copy drops it */
	if (s->sink.full_cap && s->full_kept < s->sink.full_cap) {
		size_t keep = (size_t)(s->sink.full_cap - s->full_kept < n ? s->sink.full_cap - s->full_kept : n);
		if (sg_write_all(s->sink.full_fd, buf, keep) == 0)
			s->full_kept += keep;
	}
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

#define SG_PASSTHROUGH_MAX (256u << 10) /* stop reading the command while this much waits */

static size_t pending_len(const stream_state *s)
{
	return s->pending.len - s->pending_off;
}

/* Copy what is pending to the passthrough fd, at most one pipe buffer: when poll said
 * it is writable this does not block. A reader that went away drops the rest. */
static void stream_flush_some(stream_state *s)
{
	size_t n = pending_len(s);
	if (n > 4096)
		n = 4096;
	ssize_t w = SG_RETRY(write(s->sink.passthrough_fd, s->pending.data + s->pending_off, n));
	if (w < 0) {
		if (errno == EAGAIN)
			return;
		s->pending_off = s->pending.len; /* EPIPE and the like: nobody to tell */
	} else {
		s->pending_off += (size_t)w;
	}
	if (s->pending_off == s->pending.len) {
		s->pending.len = 0;
		s->pending_off = 0;
	} else if (s->pending_off >= 65536 && s->pending_off >= s->pending.len / 2) {
		/* a reader that keeps up only in part never empties the buffer: drop what was
		 * written from its front, or it grows with everything the command ever wrote
		 * (100 MB through `exec --evidence` held 100 MB); moving at most as much as
		 * was written keeps the copying linear */
		memmove(s->pending.data, s->pending.data + s->pending_off, s->pending.len - s->pending_off);
		s->pending.len -= s->pending_off;
		s->pending_off = 0;
	}
}

/* At the end: give the reader a last moment, never more than a second in all. */
static void stream_flush_end(stream_state *s, uint64_t deadline_ns)
{
	while (s->sink.passthrough_fd >= 0 && pending_len(s) > 0) {
		uint64_t now = sg_monotonic_ns();
		if (now >= deadline_ns)
			break;
		struct pollfd p = {.fd = s->sink.passthrough_fd, .events = POLLOUT};
		if (poll(&p, 1, (int)((deadline_ns - now) / 1000000u) + 1) <= 0)
			break;
		if (p.revents & (POLLERR | POLLHUP | POLLNVAL))
			break;
		stream_flush_some(s);
	}
	sg_buf_free(&s->pending);
}

static void stream_finish(stream_state *s, sg_stream_evidence *ev)
{
	if (!s->hash) {
		memcpy(ev->sha256, SG_SHA256_EMPTY_HEX, SG_SHA256_HEX_LEN);
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

/* Loop state beyond the result itself. */
typedef struct loop_state {
	bool exited;          /* init reported the command's end */
	bool counted;         /* a leftover count arrived (after a timeout) */
	bool killed;
	bool service_active;  /* the driver is running */
	bool request_out;     /* a request to init awaits its reply */
	bool stopping;        /* STOP was sent */
	uint64_t wake_ms;     /* when the driver wants to be asked again */
	uint64_t start_ns;
	int listener;         /* the command's seccomp notification listener, or -1 */
} loop_state;

static void handle_msg(const sg_supervise_io *io, const struct sg_ctl_msg *m, const char *payload,
		       size_t len, int passed, sg_sandbox_result *r, sg_supervise_outcome *oc, loop_state *ls,
		       uint64_t now_ns)
{
	if (m->type == SG_CTL_LISTENER && passed >= 0 && io->trace && ls->listener < 0) {
		ls->listener = passed;
		return;
	}
	if (passed >= 0)
		close(passed);
	switch (m->type) {
	case SG_CTL_SETUP_ERROR:
		oc->setup_failed = true;
		oc->setup_errno = m->errnum;
		snprintf(oc->setup_error, sizeof(oc->setup_error), "%s", m->text);
		break;
	case SG_CTL_READY:
		oc->ready = true;
		oc->caps_left = m->caps_left;
		oc->no_new_privs = m->no_new_privs == 1;
		oc->landlock_abi = m->landlock_abi;
		break;
	case SG_CTL_EXITED:
		ls->exited = true;
		if (WIFEXITED(m->status)) {
			r->exit_code = WEXITSTATUS(m->status);
		} else if (WIFSIGNALED(m->status)) {
			r->signal = WTERMSIG(m->status);
			r->core_dumped = WCOREDUMP(m->status);
		}
		if (!ls->counted)
			r->leftover_processes = m->count;
		r->wall_ms = (now_ns - ls->start_ns) / 1000000u;
		if (m->count == 0 && io->cgroup && !oc->stats_taken) {
			sg_cgroup_read_stats(io->cgroup, &oc->stats);
			oc->stats_taken = true;
		}
		if (ls->service_active && !ls->stopping && io->service->exited)
			io->service->exited(io->service->ctx, now_ns / 1000000u);
		ls->service_active = false;
		break;
	case SG_CTL_COUNTED:
		ls->counted = true;
		r->leftover_processes = m->count;
		if (!ls->killed) {
			kill_sandbox(io);
			ls->killed = true;
		}
		break;
	case SG_CTL_TCP_RESULT:
	case SG_CTL_HTTP_RESULT:
	case SG_CTL_RUN_RESULT:
		ls->request_out = false;
		if (ls->service_active && io->service->reply)
			io->service->reply(io->service->ctx, now_ns / 1000000u, m, payload, len);
		break;
	default:
		break;
	}
}

/* Give the service driver its turn: send its next request, or stop the service. */
static void drive_service(const sg_supervise_io *io, loop_state *ls, uint64_t now_ns)
{
	if (!ls->service_active || ls->request_out || ls->stopping || ls->exited)
		return;
	uint64_t now_ms = now_ns / 1000000u;
	if (ls->wake_ms && now_ms < ls->wake_ms)
		return;
	/* per thread: two jobs supervised at once in one process must not share it */
	static _Thread_local char payload[SG_CTL_PAYLOAD_MAX];
	struct sg_ctl_msg req = {0};
	size_t len = 0;
	uint64_t wake = 0;
	int rc = io->service->next(io->service->ctx, now_ms, &req, payload, &len, &wake);
	ls->wake_ms = 0;
	if (rc > 0) {
		if (sg_ctl_send(io->ctl, &req, payload, len) == 0)
			ls->request_out = true;
	} else if (rc == 0) {
		ls->wake_ms = wake > now_ms ? wake : now_ms + 1;
	} else {
		struct sg_ctl_msg stop = {.type = SG_CTL_STOP, .timeout_ms = io->service->stop_grace_ms};
		ls->stopping = true;
		if (sg_ctl_send(io->ctl, &stop, NULL, 0) < 0 && !ls->killed) {
			kill_sandbox(io);
			ls->killed = true;
		}
	}
}

/* Arm a one-shot timer ns from now (flags 0) or at ns (TFD_TIMER_ABSTIME). */
static void timer_set_ns(int fd, int flags, uint64_t ns)
{
	struct itimerspec its = {.it_value = {(time_t)(ns / 1000000000u), (long)(ns % 1000000000u)}};
	timerfd_settime(fd, flags, &its, NULL);
}

/* ---- the scratch layer's size ------------------------------------------------------- */

/* Is the layer over its limit, or the disk under it nearly full? (What a step writes
 * lands on the host's disk: a cap there protects the host, not only the job.) The walk
 * never follows what the step could swap in (treesize.h); a tree too deep to walk, of
 * more entries than are walked (what lay past them went uncounted: 2,000,100 hard links
 * first hid 500 MB after them), or one that moved under every walk tried (the step
 * renaming directories to hide what lies below them), counts as over. */
static bool scratch_over(const sg_supervise_io *io, uint64_t *spent_ns, bool *was_frozen)
{
	uint64_t t0 = sg_monotonic_ns();
	/* A walk cannot measure a tree that changes under it: a step moving a large
	 * directory from the part not yet walked to the part already walked, timed by the
	 * directories' access times, kept 500 MB under a 100 MB limit. The step is frozen
	 * while the walk runs (its cgroup: cgroup.freeze, or v1's freezer), at most 5% of
	 * its time (the interval grows with the walk's cost); where it cannot be, the walk
	 * runs beside it (and still counts what moves under every try as over). */
	int frozen = sg_cgroup_freeze(io->cgroup, true, 100);
	sg_tree_usage u;
	sg_tree_usage_opts opts = {.max_entries = 2000000};
	/* an incomplete walk (too deep, too many entries, moved under every try) is over */
	bool over = sg_tree_usage_walk(io->scratch_dir, &opts, &u) == 0 &&
		    (u.bytes > io->scratch_limit || !u.complete);
	if (frozen != 0)
		(void)sg_cgroup_freeze(io->cgroup, false, 100);
	*was_frozen = frozen != 0;
	struct statvfs vfs;
	bool full = statvfs(io->scratch_dir, &vfs) == 0 &&
		    (uint64_t)vfs.f_bavail * vfs.f_frsize < (256u << 20);
	*spent_ns = sg_monotonic_ns() - t0;
	return over || full;
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
	int sigfd = -1;
	if (!io->leave_signals) {
		pthread_sigmask(SIG_BLOCK, &sigs, &old);
		sigfd = signalfd(-1, &sigs, SFD_CLOEXEC | SFD_NONBLOCK);
	}
	/* a ^C that came while the sandbox was being set up reached the caller's handler,
	 * not our signalfd: act on it now */
	bool early_interrupt = io->interrupted && *io->interrupted;

	int timerfd = -1;
	if (io->timeout_ms) {
		timerfd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
		/* until the command has started, the timeout also bounds our own set-up (with a
		 * minute's grace); from its exec on, it is the command's time alone */
		timer_set_ns(timerfd, TFD_TIMER_ABSTIME, io->t0_ns + io->timeout_ms * 1000000u + 60000000000u);
	}

	bool exec_open = io->exec_r >= 0, ctl_open = io->ctl >= 0;
	bool init_alive = true;
	loop_state ls = {.start_ns = io->t0_ns, .listener = -1};
	/* the resource timeline: every 100 ms for 5 s, then every 500 ms */
	int samplefd = -1;
	uint64_t samples = 0;
	/* the scratch layer's size, every second (less often when looking costs) */
	int scratchfd = -1;
	if (io->scratch_dir && io->scratch_limit) {
		scratchfd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
		struct itimerspec its = {.it_value = {1, 0}};
		timerfd_settime(scratchfd, 0, &its, NULL);
	}
	if (io->trace && io->cgroup) {
		samplefd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
		struct itimerspec its = {.it_value = {0, 100000000}, .it_interval = {0, 100000000}};
		timerfd_settime(samplefd, 0, &its, NULL);
	}
	uint64_t count_deadline_ns = 0, drain_deadline_ns = 0;
	static _Thread_local char payload[SG_CTL_PAYLOAD_MAX + 1];

	if (early_interrupt) {
		r->interrupted = true;
		kill_sandbox(io);
		ls.killed = true;
	}
	for (;;) {
		/* an interrupt asked for by the caller (a flag, not a signal of ours) */
		if (io->interrupted && *io->interrupted && !ls.killed) {
			r->interrupted = true;
			kill_sandbox(io);
			ls.killed = true;
		}
		bool out_open = out.fd >= 0, err_open = err.fd >= 0;
		if (!init_alive && !out_open && !err_open && !ctl_open && !exec_open)
			break;
		uint64_t now = sg_monotonic_ns();
		if (!init_alive && drain_deadline_ns && now > drain_deadline_ns)
			break; /* something outside the namespace holds a pipe: stop waiting */
		if (count_deadline_ns && now > count_deadline_ns && !ls.killed) {
			kill_sandbox(io);
			ls.killed = true;
		}
		drive_service(io, &ls, now);
		struct pollfd pfd[12];
		int kinds[12];
		int n = 0;
#define ADD(fdv, kind)                                                                           \
	do {                                                                                     \
		pfd[n] = (struct pollfd){.fd = (fdv), .events = POLLIN};                         \
		kinds[n++] = (kind);                                                             \
	} while (0)
		/* backpressure on the command while the reader lags, never once it is dead */
		bool gate = init_alive && !ls.killed;
		if (out_open && (!gate || pending_len(&out) < SG_PASSTHROUGH_MAX))
			ADD(out.fd, 0);
		if (err_open && (!gate || pending_len(&err) < SG_PASSTHROUGH_MAX))
			ADD(err.fd, 1);
		if (pending_len(&out) > 0) {
			pfd[n] = (struct pollfd){.fd = out.sink.passthrough_fd, .events = POLLOUT};
			kinds[n++] = 9;
		}
		if (pending_len(&err) > 0) {
			pfd[n] = (struct pollfd){.fd = err.sink.passthrough_fd, .events = POLLOUT};
			kinds[n++] = 10;
		}
		if (ctl_open)
			ADD(io->ctl, 2);
		if (exec_open)
			ADD(io->exec_r, 3);
		if (init_alive)
			ADD(io->pidfd, 4);
		if (sigfd >= 0)
			ADD(sigfd, 5);
		if (timerfd >= 0)
			ADD(timerfd, 6);
		if (ls.listener >= 0)
			ADD(ls.listener, 7);
		if (samplefd >= 0 && init_alive)
			ADD(samplefd, 8);
		if (scratchfd >= 0 && init_alive && !ls.killed)
			ADD(scratchfd, 11);
#undef ADD
		int wait_ms = -1;
		if (count_deadline_ns && !ls.killed)
			wait_ms = (int)((count_deadline_ns - now) / 1000000u) + 1;
		if (ls.wake_ms && !ls.request_out) {
			uint64_t now_ms = now / 1000000u;
			int w = ls.wake_ms > now_ms ? (int)(ls.wake_ms - now_ms) : 0;
			if (wait_ms < 0 || w < wait_ms)
				wait_ms = w;
		}
		if (!init_alive)
			wait_ms = 100;
		if (io->interrupted && !ls.killed && (wait_ms < 0 || wait_ms > 250))
			wait_ms = 250;
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
				struct sg_ctl_msg m;
				int passed = -1;
				ssize_t got = sg_ctl_recv_fd(io->ctl, &m, payload, SG_CTL_PAYLOAD_MAX, &passed);
				if (got < 0) {
					ctl_open = false;
					break;
				}
				handle_msg(io, &m, payload, (size_t)got, passed, r, oc, &ls, now);
				break;
			}
			case 3: {
				int e = 0;
				ssize_t got = SG_RETRY(read(io->exec_r, &e, sizeof(e)));
				if (got == (ssize_t)sizeof(e)) {
					oc->exec_errno = e;
				} else if (got == 0 && !oc->setup_failed && oc->ready) {
					r->started = true;
					ls.start_ns = now;
					if (timerfd >= 0) {
						timer_set_ns(timerfd, TFD_TIMER_ABSTIME, now + io->timeout_ms * 1000000u);
					}
					ls.service_active = io->service != NULL && !ls.exited;
				}
				exec_open = false;
				break;
			}
			case 4:
				init_alive = false;
				drain_deadline_ns = now + 2000000000u;
				if (!ls.exited && !r->wall_ms)
					r->wall_ms = (now - ls.start_ns) / 1000000u;
				break;
			case 5: {
				struct signalfd_siginfo si;
				int signo = 0;
				while (read(sigfd, &si, sizeof(si)) == (ssize_t)sizeof(si)) {
					r->interrupted = true;
					signo = (int)si.ssi_signo;
				}
				if (io->interrupted && signo)
					*io->interrupted = signo;
				if (!ls.killed) {
					kill_sandbox(io);
					ls.killed = true;
				}
				break;
			}
			case 6: {
				uint64_t ticks;
				(void)!read(timerfd, &ticks, sizeof(ticks));
				close(timerfd);
				timerfd = -1;
				if (ls.exited)
					break;
				r->timed_out = true;
				r->limits_hit |= SG_LIMIT_TIMEOUT;
				r->wall_ms = (now - ls.start_ns) / 1000000u;
				ls.service_active = false;
				/* ask init what is still running, then kill regardless; an
				 * outstanding request's reply may come first: that is fine */
				struct sg_ctl_msg count = {.type = SG_CTL_COUNT};
				if (!ls.request_out && sg_ctl_send(io->ctl, &count, NULL, 0) == 0)
					count_deadline_ns = now + 250000000u;
				else if (!ls.killed) {
					kill_sandbox(io);
					ls.killed = true;
				}
				break;
			}
			case 7:
				if ((pfd[i].revents & POLLIN) && sg_trace_handle(io->trace, ls.listener) == 0)
					break;
				if (pfd[i].revents & (POLLHUP | POLLERR | POLLNVAL) || !(pfd[i].revents & POLLIN)) {
					close(ls.listener);
					ls.listener = -1;
				}
				break;
			case 11: {
				uint64_t ticks, spent = 0;
				(void)!read(scratchfd, &ticks, sizeof(ticks));
				bool was_frozen = false;
				if (scratch_over(io, &spent, &was_frozen)) {
					r->limits_hit |= SG_LIMIT_SCRATCH;
					if (!ls.killed) {
						kill_sandbox(io);
						ls.killed = true;
					}
					break;
				}
				/* the time the step spent frozen for us is not its own: its timeout
				 * moves on by as much */
				struct itimerspec left;
				if (was_frozen && timerfd >= 0 && timerfd_gettime(timerfd, &left) == 0 &&
				    (left.it_value.tv_sec || left.it_value.tv_nsec))
					timer_set_ns(timerfd, 0, (uint64_t)left.it_value.tv_sec * 1000000000u +
								    (uint64_t)left.it_value.tv_nsec + spent);
				/* at most 5% of the time spent looking */
				timer_set_ns(scratchfd, 0, spent * 20 > 1000000000u ? spent * 20 : 1000000000u);
				break;
			}
			case 9:
				if (pfd[i].revents & (POLLERR | POLLHUP | POLLNVAL)) {
					out.pending.len = out.pending_off = 0;
					out.sink.passthrough_fd = -1;
				} else {
					stream_flush_some(&out);
				}
				break;
			case 10:
				if (pfd[i].revents & (POLLERR | POLLHUP | POLLNVAL)) {
					err.pending.len = err.pending_off = 0;
					err.sink.passthrough_fd = -1;
				} else {
					stream_flush_some(&err);
				}
				break;
			case 8: {
				uint64_t ticks;
				(void)!read(samplefd, &ticks, sizeof(ticks));
				uint64_t mem_kb = 0, cpu_ms = 0;
				sg_cgroup_read_usage(io->cgroup, &mem_kb, &cpu_ms);
				sg_trace_sample(io->trace, now, mem_kb, cpu_ms);
				if (++samples == 50) {
					struct itimerspec its = {.it_value = {0, 500000000}, .it_interval = {0, 500000000}};
					timerfd_settime(samplefd, 0, &its, NULL);
				}
				break;
			}
			default:
				break;
			}
		}
	}
	if (ls.listener >= 0)
		close(ls.listener);
	if (samplefd >= 0)
		close(samplefd);
	/* what the step left in the layer is measured once more when it ends: a step done
	 * before the first check (at 1 s) was never measured, and quick steps piled up any
	 * amount (helper-46: 451 MB under a 20 MB limit, every step passed) */
	if (scratchfd >= 0 && !ls.killed && !(r->limits_hit & SG_LIMIT_SCRATCH)) {
		uint64_t spent;
		bool was_frozen;
		if (scratch_over(io, &spent, &was_frozen))
			r->limits_hit |= SG_LIMIT_SCRATCH;
	}
	if (scratchfd >= 0)
		close(scratchfd);
	if (io->trace)
		sg_trace_finish(io->trace);
	/* the sandbox died before init could report: killed by our timer, our signal, or the
	 * kernel (a cgroup v2 OOM kill takes init too): SIGKILL was the means */
	if (r->started && !ls.exited)
		r->signal = SIGKILL;
	if (out.fd >= 0)
		close(out.fd);
	if (err.fd >= 0)
		close(err.fd);
	uint64_t flush_deadline = sg_monotonic_ns() + 1000000000u;
	stream_flush_end(&out, flush_deadline);
	stream_flush_end(&err, flush_deadline);
	stream_finish(&out, &r->out);
	stream_finish(&err, &r->err);
	if (out.bytes > io->output_cap || err.bytes > io->output_cap)
		r->limits_hit |= (io->out_r >= 0) ? SG_LIMIT_OUTPUT : 0;
	if (timerfd >= 0)
		close(timerfd);
	if (sigfd >= 0)
		close(sigfd);
	if (!io->leave_signals)
		pthread_sigmask(SIG_SETMASK, &old, NULL);
}
