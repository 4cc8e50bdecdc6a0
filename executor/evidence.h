/* evidence.h: turning what the kernel reported about a sandbox into the contract's JSON
 * fields (CONTRACT.md, "Verdict": steps[], enforced). Pure code: no syscalls. */
#ifndef SHIPGATE_EVIDENCE_H
#define SHIPGATE_EVIDENCE_H

#include "sandbox.h"

#include <cjson/cJSON.h>

typedef enum sg_step_status {
	SG_STEP_PASSED = 0,
	SG_STEP_FAILED,
	SG_STEP_TIMEOUT,
	SG_STEP_OOM,
	SG_STEP_SIGNALED,
	SG_STEP_VIOLATION,
	SG_STEP_NO_TESTS,
	SG_STEP_NOT_READY,
	SG_STEP_PROBE_FAILED,
	SG_STEP_SKIPPED,
	SG_STEP_ERROR,
	SG_STEP_FLAKY,     /* the runs of a repeated step disagree */
} sg_step_status;

const char *sg_step_status_name(sg_step_status s);

/* The status of a step from how its command ended, by the contract's precedence: our
 * timer first (a timeout is `timeout` even though SIGKILL was the means), then the cgroup
 * OOM killer (`oom`, never `signaled`), then a signal, then the exit code. */
sg_step_status sg_classify_exit(const sg_sandbox_result *r);

/* The length (1..4) of the valid UTF-8 sequence at s, at most `left` bytes, or 0 when
 * there is none: no overlong forms, no surrogates, nothing past U+10FFFF. */
size_t sg_utf8_seq_len(const unsigned char *s, size_t left);
/* A copy of s that is valid UTF-8 (invalid bytes become U+FFFD), so that a candidate's
 * bytes can never corrupt the evidence JSON. */
char *sg_utf8_sanitize(const char *s, size_t len);
/* A copy of s fit for one line of a terminal and of the verdict's `reason`: valid UTF-8
 * (as above) with every control character (C0, DEL, C1) written as a visible escape
 * (\n, \t, \x1b, \u009b), so that text a candidate chose (a file name, a denied
 * call's arguments, a test's name) can neither break the line nor drive the terminal. */
char *sg_text_one_line(const char *s);

cJSON *sg_evidence_stream(const sg_stream_evidence *ev);
cJSON *sg_evidence_enforced(const sg_enforced *e);
/* Fold e into acc, keeping the weaker of each (for a job: what held for every step). */
void sg_enforced_weakest(sg_enforced *acc, const sg_enforced *e);
cJSON *sg_evidence_limits_hit(unsigned limits_hit);
/* exit_code, signal, wall_ms, cpu_ms, peak_memory_kb, pids_peak, oom_kills, limits_hit,
 * stdout, stderr, leftover_processes added to obj. */
void sg_evidence_add_run_fields(cJSON *obj, const sg_sandbox_result *r);

#endif
