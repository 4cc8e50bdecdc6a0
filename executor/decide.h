/* decide.h: the loop controller's decision for one verified statement: SHIP or
 * DIAGNOSE, and for DIAGNOSE a diagnosis an agent can act on.
 *
 * Pure code over the statement's JSON (the caller verifies the envelope and the subject
 * first; an unverified statement never reaches this code). The ship policy is explicit:
 * SHIP only if the result is PASSED, every step passed, every test step ran at least its
 * minimum and none failed, every service became ready and passed its probes, there were
 * no violations (unless allowed) and the enforced isolation meets the policy's minimum.
 */
#ifndef SHIPGATE_DECIDE_H
#define SHIPGATE_DECIDE_H

#include <cjson/cJSON.h>
#include <stdbool.h>

typedef struct sg_ship_policy {
	bool allow_violations;     /* default false */
	bool require_seccomp;      /* default true */
	bool require_namespaces;   /* user, pid, mount, ipc, uts, cgroup (net unless host); default true */
	bool require_no_new_privs; /* default true */
	bool require_no_caps;      /* default true */
	bool require_memory_limit; /* default true */
	bool require_pids_limit;   /* default true */
} sg_ship_policy;
void sg_ship_policy_default(sg_ship_policy *p);

typedef enum sg_decision_kind { SG_SHIP = 0, SG_DIAGNOSE = 1 } sg_decision_kind;

/* The diagnosis categories of the contract. */
typedef enum sg_diag_category {
	SG_DIAG_NONE = 0,
	SG_DIAG_BUILD_FAILED,
	SG_DIAG_TESTS_FAILED,
	SG_DIAG_NO_TESTS,
	SG_DIAG_TIMEOUT,
	SG_DIAG_OOM,
	SG_DIAG_CRASHED,
	SG_DIAG_VIOLATION,
	SG_DIAG_NOT_READY,
	SG_DIAG_PROBE_FAILED,
	SG_DIAG_INFRASTRUCTURE,
} sg_diag_category;
const char *sg_diag_category_name(sg_diag_category c);

typedef struct sg_decision {
	sg_decision_kind kind;
	sg_diag_category category;
	char *summary;      /* one line: why not SHIP, or "all N steps passed" */
	char *step;         /* the failing step, NULL if none */
	char *command;      /* its command */
	char *next_step;    /* one concrete suggestion */
	char *signature;    /* stable across runs: category + step + normalised first error */
	cJSON *evidence;    /* what shows it: log tail, failures, signal, limit, violation */
} sg_decision;

/* Decide on a statement (the in-toto Statement v1 object). Never fails: anything
 * malformed in the statement is itself a reason to DIAGNOSE (category infrastructure). */
void sg_decide(const cJSON *statement, const sg_ship_policy *policy, sg_decision *out);
void sg_decision_free(sg_decision *d);

/* The diagnosis as JSON (diagnosis.json) and as Markdown (diagnosis.md). */
cJSON *sg_decision_json(const sg_decision *d);
char *sg_decision_markdown(const sg_decision *d, const char *ledger_note);

/* Normalise an error line for a failure signature: digits, hex addresses, temp paths and
 * line:col positions become placeholders so the same mistake matches across runs. */
char *sg_normalise_error_line(const char *line);

#endif
