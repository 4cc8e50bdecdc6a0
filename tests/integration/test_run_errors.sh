#!/bin/sh
# test_run_errors.sh: `shipgate run` on bad input exits 2 with one line that names the
# job file and the JSON path at fault, runs nothing (the steps would leave a mark in a
# writable mount if they ran), and leaves nothing behind: no out dir, no scratch dir, the
# workspace untouched.
. "$(dirname "$0")/lib.sh"

plan 54

J=$(new_tmp job)
mkdir "$J/src" "$J/mark"
echo keep >"$J/src/file"
ws_before=$(tree_listing "$J/src")

# rejected JSON_PATH DESCRIPTION JOB_TEXT: write JOB_TEXT as the job file, run it, check
# exit 2, one line naming the file and JSON_PATH, nothing ran, nothing left
rejected() {
	printf '%s\n' "$3" >"$J/job.json"
	sg_run "$J/job.json"
	check_rejected "$1" "$2" "$J/job.json"
}

check_rejected() {
	is "$SG_RC" 2 "$2: exit code 2"
	lines=$(printf '%s\n' "$SG_ERR" | grep -c .)
	if [ "$lines" -eq 1 ] && printf '%s\n' "$SG_ERR" | grep -qF -- "$3" &&
		printf '%s\n' "$SG_ERR" | grep -qF -- "$1"; then
		pass "$2: one line naming $(basename "$3") and '$1'"
	else
		fail "$2: one line naming $(basename "$3") and '$1'" "stderr ($lines lines):" "$SG_ERR"
	fi
	if [ -z "$(ls -A "$J/mark")" ] && [ ! -e "$J/shipgate-out" ] && [ -z "$(ls -A "$TMPDIR")" ] &&
		[ "$(tree_listing "$J/src")" = "$ws_before" ]; then
		pass "$2: nothing ran, no out dir, no scratch dir, workspace untouched"
	else
		fail "$2: nothing ran, no out dir, no scratch dir, workspace untouched" \
			"mark: $(ls -A "$J/mark")" "out dir: $(ls -d "$J/shipgate-out" 2>&1)" "TMPDIR: $(ls -A "$TMPDIR")"
	fi
	rm -rf "$J/mark/"* "$J/shipgate-out"
}

# a valid job, as the base of every broken one: its step leaves a mark if it runs
good='{ "version": 1, "name": "errors", "workspace": "src",
  "mounts": [ { "source": "mark", "target": "/mark", "readonly": false } ],
  "steps": [ { "name": "mark", "run": "touch /mark/ran" } ] }'

# control: the valid job does run and does leave its mark, so "nothing ran" means something
# (whether a job that writes into a writable mount passes is test_run_pipeline's business)
printf '%s\n' "$good" >"$J/job.json"
sg_run "$J/job.json"
is "$(jget "$J/shipgate-out/statement.json" 'd["predicate"]["steps"][0]["status"]')" passed \
	"control: the valid base job's step runs and passes"
ok "control: its step leaves a mark in the writable mount" test -e "$J/mark/ran"
ok "control: and it writes the default out dir" test -e "$J/shipgate-out/statement.json"
rm -rf "$J/mark/"* "$J/shipgate-out"

# missing job file
sg_run "$J/no-such-job.json"
check_rejected "no-such-job.json" "missing job file" "$J/no-such-job.json"

rejected "invalid JSON" "invalid JSON" '{ "version": 1, "name": "errors", '

rejected "colour" "unknown top-level key" \
	'{ "version": 1, "name": "errors", "workspace": "src", "colour": "red",
	  "mounts": [ { "source": "mark", "target": "/mark", "readonly": false } ],
	  "steps": [ { "name": "mark", "run": "touch /mark/ran" } ] }'

rejected "steps[0].tiemout_s" "unknown key in a step" \
	'{ "version": 1, "name": "errors", "workspace": "src",
	  "mounts": [ { "source": "mark", "target": "/mark", "readonly": false } ],
	  "steps": [ { "name": "mark", "run": "touch /mark/ran", "tiemout_s": 5 } ] }'

rejected "workspace" "workspace that does not exist" \
	'{ "version": 1, "name": "errors", "workspace": "no-such-dir",
	  "mounts": [ { "source": "mark", "target": "/mark", "readonly": false } ],
	  "steps": [ { "name": "mark", "run": "touch /mark/ran" } ] }'

rejected "workspace" "workspace escaping the job directory with .." \
	'{ "version": 1, "name": "errors", "workspace": "../",
	  "mounts": [ { "source": "mark", "target": "/mark", "readonly": false } ],
	  "steps": [ { "name": "mark", "run": "touch /mark/ran" } ] }'

ln -s / "$J/escape"
rejected "workspace" "workspace escaping the job directory through a symlink" \
	'{ "version": 1, "name": "errors", "workspace": "escape",
	  "mounts": [ { "source": "mark", "target": "/mark", "readonly": false } ],
	  "steps": [ { "name": "mark", "run": "touch /mark/ran" } ] }'
rm "$J/escape"

rejected "steps[1].run" "a step with an empty run string" \
	'{ "version": 1, "name": "errors", "workspace": "src",
	  "mounts": [ { "source": "mark", "target": "/mark", "readonly": false } ],
	  "steps": [ { "name": "mark", "run": "touch /mark/ran" }, { "name": "empty", "run": "" } ] }'

rejected "steps[0].run" "a step with an empty run array" \
	'{ "version": 1, "name": "errors", "workspace": "src",
	  "mounts": [ { "source": "mark", "target": "/mark", "readonly": false } ],
	  "steps": [ { "name": "mark", "run": [] } ] }'

rejected "limits.memory_mb" "a negative memory limit" \
	'{ "version": 1, "name": "errors", "workspace": "src", "limits": { "memory_mb": -1 },
	  "mounts": [ { "source": "mark", "target": "/mark", "readonly": false } ],
	  "steps": [ { "name": "mark", "run": "touch /mark/ran" } ] }'

rejected "limits.timeout_s" "a negative timeout" \
	'{ "version": 1, "name": "errors", "workspace": "src", "limits": { "timeout_s": -5 },
	  "mounts": [ { "source": "mark", "target": "/mark", "readonly": false } ],
	  "steps": [ { "name": "mark", "run": "touch /mark/ran" } ] }'

touch "$J/rootfs-file"
rejected "rootfs" "a rootfs path that is a file" \
	'{ "version": 1, "name": "errors", "workspace": "src", "rootfs": "rootfs-file",
	  "mounts": [ { "source": "mark", "target": "/mark", "readonly": false } ],
	  "steps": [ { "name": "mark", "run": "touch /mark/ran" } ] }'

rejected "mounts[0].source" "a mount whose source does not exist" \
	'{ "version": 1, "name": "errors", "workspace": "src",
	  "mounts": [ { "source": "no-such-dir", "target": "/acc" }, { "source": "mark", "target": "/mark", "readonly": false } ],
	  "steps": [ { "name": "mark", "run": "touch /mark/ran" } ] }'

rejected "policy" "a policy that does not exist" \
	'{ "version": 1, "name": "errors", "workspace": "src", "policy": "no-such-policy-sgit",
	  "mounts": [ { "source": "mark", "target": "/mark", "readonly": false } ],
	  "steps": [ { "name": "mark", "run": "touch /mark/ran" } ] }'

# --out given: it must not be created either
printf '%s\n' '{ "version": 1, "name": "errors", "workspace": "src", "bogus": 1,
  "steps": [ { "name": "mark", "run": "touch /mark/ran" } ] }' >"$J/job.json"
sg_run "$J/job.json" --out "$J/explicit-out"
is "$SG_RC" 2 "a bad job with --out DIR: exit code 2"
ok "and DIR is not created" test ! -e "$J/explicit-out"

# two runs into one out dir: the second is refused at once, the first's evidence is whole
mkdir -p "$J/lk/ws"
printf '%s\n' '{ "version": 1, "name": "lock", "workspace": "ws", "steps": [ { "name": "a", "run": "sleep 3" } ] }' >"$J/lk/job.json"
timeout -k 5 60 "$SHIPGATE" run "$J/lk/job.json" --out "$J/lk/out" --quiet </dev/null >/dev/null 2>&1 &
first=$!
for _ in $(seq 50); do [ -e "$J/lk/out/.shipgate-run.lock" ] && break; sleep 0.1; done
sg_run "$J/lk/job.json" --out "$J/lk/out"
is "$SG_RC" 2 "a second run into the same out dir: exit code 2"
like "$SG_ERR" "another shipgate run is writing there" "... and it says why"
wait "$first"
is "$?" 0 "the first run finished undisturbed"
ok "... with its verdict" test -s "$J/lk/out/verdict.dsse.json"

# --json on a stdout that takes nothing: a machine reading it got no statement, so the
# run is not a success whatever the verdict (it exited 0 with a message)
mkdir -p "$J/js/ws"
printf '%s\n' '{ "version": 1, "name": "json", "workspace": "ws", "steps": [ { "name": "a", "run": "true" } ] }' >"$J/js/job.json"
rc=0
"$SHIPGATE" run "$J/js/job.json" --out "$J/js/out" --quiet --json </dev/null >/dev/full 2>"$J/js/err" || rc=$?
is "$rc" 3 "run --json with stdout on /dev/full: exit code 3"
like "$(cat "$J/js/err")" "writing the statement to stdout: No space left on device" "... and it says why"
ok "... the verdict is written all the same" test -s "$J/js/out/verdict.dsse.json"

done_testing
