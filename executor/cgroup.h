/* cgroup.h: the step's cgroup, on cgroup v2, v1 or a hybrid of both.
 *
 * sg_cgroup_detect() reads /proc/self/mountinfo and /proc/self/cgroup once and says, per
 * controller, which hierarchy holds it and whether we may create cgroups there (below
 * the cgroup shipgate itself runs in). A step's cgroup is then created below a parent of
 * our own ("shipgate" under our cgroup), given its limits, joined by the sandbox's init
 * before any candidate code runs, read for evidence after the step and removed.
 *
 * The two backends (cgroup_v1.c, cgroup_v2.c) implement the same small interface; the
 * supervisor only calls the sg_cgroup_* functions below.
 */
#ifndef SHIPGATE_CGROUP_H
#define SHIPGATE_CGROUP_H

#include <shipgate/error.h>

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

typedef enum sg_cgroup_ctrl {
	SG_CG_MEMORY = 0,
	SG_CG_PIDS,
	SG_CG_CPU,
	SG_CG_CPUACCT, /* v1 only: cpu usage figures */
	SG_CG_FREEZER, /* v1 only */
	SG_CG_NCTRL,
} sg_cgroup_ctrl;
const char *sg_cgroup_ctrl_name(sg_cgroup_ctrl c);

typedef enum sg_cgroup_version { SG_CGV_NONE = 0, SG_CGV_1, SG_CGV_2 } sg_cgroup_version;

/* What the host offers, detected once per process. */
typedef struct sg_cgroup_host {
	const char *layout;          /* "v2", "hybrid", "v1", "none" */
	char *v2_mount;              /* where cgroup2 is mounted, NULL if not */
	char *v2_own;                /* our cgroup's directory in it */
	bool v2_controllers[SG_CG_NCTRL]; /* available in the unified hierarchy */
	char *v1_mount[SG_CG_NCTRL]; /* per controller, NULL if not on v1 */
	char *v1_own[SG_CG_NCTRL];   /* our cgroup's directory per controller */
	sg_cgroup_version use[SG_CG_NCTRL]; /* the hierarchy each controller is taken from */
	bool writable[SG_CG_NCTRL];  /* we may create cgroups there */
	char why_not[SG_CG_NCTRL][160]; /* when not usable: why */
} sg_cgroup_host;

int sg_cgroup_detect(sg_cgroup_host *host, sg_error *err);
void sg_cgroup_host_free(sg_cgroup_host *host);

typedef struct sg_cgroup_limits {
	uint64_t memory_bytes; /* 0: none */
	uint64_t pids;         /* 0: none */
	double cpus;           /* 0: none */
	bool freezer;          /* v1: join the freezer hierarchy too (sg_cgroup_freeze) */
} sg_cgroup_limits;

typedef struct sg_cgroup_stats {
	uint64_t peak_memory_kb; /* 0 if unknown */
	uint64_t cpu_ms;
	bool cpu_known;
	uint64_t pids_peak;      /* 0 if unknown */
	uint64_t oom_kills;
	uint64_t memory_max_events; /* times the memory limit was hit */
	uint64_t pids_max_events;   /* forks refused at pids.max */
	uint64_t procs;          /* processes still inside */
} sg_cgroup_stats;

typedef struct sg_cgroup sg_cgroup;

/* Create the step's cgroup with its limits. `enforced` tells, per controller, whether the
 * limit was really set. Fails only on an unexpected error; a controller that the host
 * does not offer is simply not enforced. */
sg_cgroup *sg_cgroup_create(const sg_cgroup_host *host, const sg_cgroup_limits *limits,
			    sg_error *err);
/* The v2 directory fd for clone3(CLONE_INTO_CGROUP), or -1 when the child must be
 * attached with sg_cgroup_attach() before it is released. */
int sg_cgroup_clone_fd(const sg_cgroup *cg);
/* Attach pid to the v2 hierarchy unless clone3 put it there (include_v2 false), and to
 * the v1 ones. With join_fds, a v1 hierarchy is joined by the process itself: its open
 * `tasks` file is stored in join_fds[(*n_join)++] for sg_cgroup_join_self (much cheaper
 * than writing a pid, see cgroup_v1.c); pid is written only where that file cannot be
 * opened. On error nothing is left open. */
int sg_cgroup_attach(sg_cgroup *cg, pid_t pid, bool include_v2, int join_fds[SG_CG_NCTRL], size_t *n_join,
		     sg_error *err);
/* In the (single-threaded) process to move: write "0" to each of the n `tasks` files
 * and close them all, whatever happens. */
int sg_cgroup_join_self(int *fds, size_t n, sg_error *err);
bool sg_cgroup_enforces(const sg_cgroup *cg, sg_cgroup_ctrl c);
const char *sg_cgroup_mode(const sg_cgroup *cg); /* "v1", "v2", "v1+v2", "none" */
void sg_cgroup_read_stats(const sg_cgroup *cg, sg_cgroup_stats *stats);
/* Memory in use now and CPU used so far (for the trace's resource timeline). */
void sg_cgroup_read_usage(const sg_cgroup *cg, uint64_t *memory_kb, uint64_t *cpu_ms);
/* Freeze (true) or thaw (false) every process in the cgroup and wait up to timeout_ms
 * for it to hold: cgroup.freeze on v2, the freezer hierarchy on v1 (joined only when
 * asked for: sg_cgroup_limits.freezer). 1 done; 0 no freezer here; -1 not in time or
 * refused (a freeze not in time is left half done: thaw it). */
int sg_cgroup_freeze(sg_cgroup *cg, bool frozen, unsigned timeout_ms);
/* Kill every process still in the cgroup (cgroup.kill on v2, freeze+kill on v1). */
void sg_cgroup_kill(sg_cgroup *cg);
/* Remove the cgroup directories and free. Safe with NULL. */
void sg_cgroup_destroy(sg_cgroup *cg);

/* Internal to the cgroup files: one backend per hierarchy version. */
struct sg_cgroup {
	const sg_cgroup_host *host;
	char *name;                  /* "sg-<pid>-<seq>" */
	char *v2_dir;                /* NULL if no controller from v2 */
	int v2_fd;
	char *v1_dir[SG_CG_NCTRL];   /* NULL if unused; co-mounted controllers share one */
	bool enforced[SG_CG_NCTRL];
};

int sg_cgroup_v1_create(sg_cgroup *cg, const sg_cgroup_limits *limits, sg_error *err);
int sg_cgroup_v1_attach(sg_cgroup *cg, pid_t pid, int join_fds[SG_CG_NCTRL], size_t *n_join, sg_error *err);
void sg_cgroup_v1_read_stats(const sg_cgroup *cg, sg_cgroup_stats *stats);
void sg_cgroup_v1_kill(sg_cgroup *cg);
int sg_cgroup_v1_freeze(sg_cgroup *cg, bool frozen, unsigned timeout_ms);
void sg_cgroup_v1_destroy(sg_cgroup *cg);

int sg_cgroup_v2_create(sg_cgroup *cg, const sg_cgroup_limits *limits, sg_error *err);
void sg_cgroup_v2_read_stats(const sg_cgroup *cg, sg_cgroup_stats *stats);
void sg_cgroup_v2_kill(sg_cgroup *cg);
int sg_cgroup_v2_freeze(sg_cgroup *cg, bool frozen, unsigned timeout_ms);
void sg_cgroup_v2_destroy(sg_cgroup *cg);

/* Shared helpers of the backends. */
int sg_cgroup_read_u64(const char *dir, const char *file, uint64_t *out);
int sg_cgroup_read_keyed(const char *dir, const char *file, const char *key, uint64_t *out);
int sg_cgroup_rmdir(const char *dir);
/* Wait up to timeout_ms until dir/file reads as `want` (whole, or a keyed line "key v"
 * when want has a space): 0 when it did, -1 otherwise. */
int sg_cgroup_wait_value(const char *dir, const char *file, const char *want, unsigned timeout_ms);
void sg_cgroup_remove_stale(const char *parent);

#endif
