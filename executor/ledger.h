/* ledger.h: the loop controller's memory, `.shipgate/ledger.jsonl` beside the job file.
 *
 * Append-only, one JSON object per line, hash-chained: every entry carries `seq` (1, 2,
 * ...) and `prev`, the sha256 of the previous line's exact bytes (64 zeros for the
 * first), so a deleted, reordered or edited line is detected by sg_ledger_verify().
 * Writers take an exclusive flock on the file, so concurrent loops never interleave.
 *
 * Entry types: "run" (a verdict was produced), "decision" (SHIP or DIAGNOSE, with the
 * failure signature and the workspace digest), "diagnosis" (what the agent was told),
 * "ship". Every entry names its loop (`loop`: an id per `shipgate loop` invocation) and
 * `attempt`. */
#ifndef SHIPGATE_LEDGER_H
#define SHIPGATE_LEDGER_H

#include <shipgate/error.h>

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stddef.h>

/* Append an entry of `type` with the given fields (the object is consumed; seq, prev,
 * time and type are added). */
int sg_ledger_append(const char *path, const char *type, cJSON *fields, sg_error *err);

/* Check the chain; on success *entries is the number of entries. On a broken chain the
 * error names the line and what is wrong (SG_ERR_VERIFY). A missing ledger is empty. */
int sg_ledger_verify(const char *path, size_t *entries, sg_error *err);

/* All entries as a JSON array (empty if there is no ledger). */
cJSON *sg_ledger_load(const char *path, sg_error *err);

/* What the ledger knows of a failure signature: how often it was seen, in which loops
 * and attempts, and the workspace digest of the attempt that next got past it. */
typedef struct sg_ledger_seen {
	size_t count;
	char *where;        /* "loop L attempt A; ..." (the last 10) */
	char *fixed_digest; /* workspace sha256 when it was next fixed, NULL if never */
	char *fixed_where;  /* "loop L attempt A" */
} sg_ledger_seen;
void sg_ledger_seen_of(const cJSON *entries, const char *signature, sg_ledger_seen *out);
void sg_ledger_seen_free(sg_ledger_seen *s);
/* One sentence for a diagnosis, or NULL when never seen. */
char *sg_ledger_seen_note(const sg_ledger_seen *s);

/* A readable history, one line per entry. */
char *sg_ledger_show(const cJSON *entries);

#endif
