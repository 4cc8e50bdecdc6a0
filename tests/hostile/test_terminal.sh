#!/bin/sh
# test_terminal.sh: a candidate that tries to corrupt the evidence or drive the terminal of
# whoever runs shipgate: file names full of newlines, invalid UTF-8 and escape sequences
# (in changed_files and in a `protect` reason), escapes in a denied call's arguments and in
# test names (both end up in the reason on the progress line), in a probe's output and on
# stdout; and TIOCSTI, which pushes input into a terminal (bubblewrap CVE-2017-5226, and
# with the request's high bits, CVE-2019-10063). Runs under a pseudo-terminal (script(1))
# where there must be one.
. "$(dirname "$0")/lib.sh"
require_root

plan 56

# on_tty FILE CMD: run the shell command CMD on a fresh pseudo-terminal; what the terminal
# received goes to FILE. script(1)'s own input is a FIFO that stays open and empty: at
# EOF on its input script would type ^D into the terminal, and a `read` there would end
# before anything injected could arrive.
mkfifo "$TEST_TMP/tty.in"
exec 3<>"$TEST_TMP/tty.in"
on_tty() {
	_f=$1
	shift
	# script(1) runs the command with $SHELL, else /bin/sh: CI has no SHELL and Debian's sh
	# (dash) has no read -t, so name the shell, or the reads below fail and prove nothing
	SHELL=/bin/bash timeout -k 5 60 script -qec "$1" /dev/null <"$TEST_TMP/tty.in" >"$_f" 2>&1
}
have_script=false
command -v script >/dev/null && have_script=true

# ---- hostile file names: the evidence stays valid ---------------------------------------------

J=$(hjob names '{"version":1,"name":"names","workspace":"ws","steps":[
 {"name":"names","run":"./attack names; ls | head -c 4000"}]}')
hrun "$J"
check_survival 0 "names"
like "$(cat "$J/out/logs/names.stdout")" "^made 8$" "names: eight files with hostile names were made"
is "$(jget "$ST" 'len(d["predicate"]["changed_files"])')" 9 \
	"names: changed_files lists them all (the eight files and the symlink)"
is "$(jget "$ST" '"new\nline" in [c["path"] for c in d["predicate"]["changed_files"]]')" true \
	"names: a newline in a name is kept, escaped by JSON"
like "$(jget "$ST" '[c["path"] for c in d["predicate"]["changed_files"] if c["path"].startswith("bad-utf8")][0]')" \
	"^bad-utf8-.*-.*" "names: invalid UTF-8 in a name becomes U+FFFD, and the statement stays UTF-8"
ok "names: the DSSE payload is the statement, byte for byte" "$PY" -c '
import base64, json, sys
env = json.load(open(sys.argv[1]))
assert base64.b64decode(env["payload"]) == open(sys.argv[2], "rb").read()' "$J/out/verdict.dsse.json" "$ST"
check_contained "$J" "names"

# ---- escapes in what the progress line prints ---------------------------------------------------

# 1. a protected path with an escape in its name
# 2. a denied call whose arguments (recorded, then the reason) carry escapes
# 3. TAP test names with escapes: the reason lists failing tests
# 4. a probe whose output is escapes, and a step whose stdout is escapes
J=$(hjob esc '{"version":1,"name":"esc","workspace":"ws","protect":["esc-*"],"steps":[
 {"name":"names","run":["./attack","names"]}]}')
J2=$(hjob esc2 '{"version":1,"name":"esc2","workspace":"ws","steps":[{"name":"mount","run":["./attack","mount_esc"]}]}')
J3=$(hjob esc3 '{"version":1,"name":"esc3","workspace":"ws","steps":[
 {"name":"tap","run":"printf \"1..2\\nok 1 - fine\\nnot ok 2 - \\033]0;HOSTILE-TITLE\\007\\033[2J\\n\"","tests":{"format":"tap","min":1}}]}')
J4=$(hjob esc4 '{"version":1,"name":"esc4","workspace":"ws","steps":[
 {"name":"out","run":"printf \"\\033]0;HOSTILE-TITLE\\007\\033[2J\\377\\n\"; printf \"\\033]0;HOSTILE-TITLE\\007\" >&2"},
 {"name":"svc","run":"exec sleep 30","service":{"ready":{"run":"true"},"probes":[
   {"name":"p","run":"printf \"\\033]0;HOSTILE-TITLE\\007\\033[2J\"; exit 3"}]}}]}')
cat >"$TEST_TMP/tty.sh" <<EOF
for j in "$J" "$J2" "$J3" "$J4"; do
	"$SHIPGATE" run "\$j/job.json" --out "\$j/out"
	echo "rc=\$?"
done
EOF
if $have_script; then
	on_tty "$TEST_TMP/tty.out" "sh $TEST_TMP/tty.sh"
	out=$(cat "$TEST_TMP/tty.out")
	like "$out" "names +.*violation .*modified the protected path esc-\\\\x1b\\]0;HOSTILE-TITLE\\\\x07" \
		"protect: the hostile name is on the progress line, its escapes made visible"
	like "$out" "mount +.*violation .*denied mount \\(source=\\\\x1b\\]0;HOSTILE-TITLE\\\\x07" \
		"denied call: its arguments are on the progress line, escapes made visible"
	like "$out" "tap +.*failed .*\\\\x1b\\]0;HOSTILE-TITLE\\\\x07" \
		"TAP: the failing test's name is on the progress line, escapes made visible"
	like "$out" "svc +.*probe_failed" "service: the probe failure is reported"
	is "$(printf '%s\n' "$out" | grep -c '^rc=1')" 4 "each of the four jobs fails (exit 1), none crashes"
	ok "nothing the candidate chose drives the terminal: no escape, BEL, C1 control or invalid UTF-8" \
		no_hostile_escapes "$TEST_TMP/tty.out"
	# and the same through a pipe (a CI log, later cat'ed on a terminal)
	sh "$TEST_TMP/tty.sh" >"$TEST_TMP/pipe.out" 2>&1 </dev/null
	ok "through a pipe, the same: nothing of the candidate's escapes is printed" \
		no_hostile_escapes "$TEST_TMP/pipe.out"
else
	for i in 1 2 3 4 5 6 7; do skip "terminal ($i)" "no script(1)"; done
fi
for j in "$J" "$J2" "$J3" "$J4"; do
	ST=$j/out/statement.json
	ok "$(basename "$j" | cut -d. -f1): the statement is strict UTF-8 and its reasons are one clean line" valid_evidence "$ST"
	ok "$(basename "$j" | cut -d. -f1): the verdict verifies" "$SHIPGATE" verify "$j/out/verdict.dsse.json" -q
done
ST=$J4/out/statement.json
like "$(jget "$ST" 'd["predicate"]["steps"][0]["stdout"]["tail"]')" "HOSTILE-TITLE" \
	"stdout with escapes: kept in the statement's tail (escaped by JSON), never printed"
is "$(jget "$ST" 'd["predicate"]["steps"][1]["probes"][0]["exit_code"]')" 3 "the probe's own exit code is the evidence"
SG_PID=
check_contained "$J" "escapes"

# decide prints the verdict's reason too
if $have_script; then
	on_tty "$TEST_TMP/decide.out" "'$SHIPGATE' decide '$J2/out/verdict.dsse.json'"
	like "$(cat "$TEST_TMP/decide.out")" "DIAGNOSE: violation" "decide: the diagnosis of the escape job"
	ok "decide: prints nothing of the candidate's escapes" no_hostile_escapes "$TEST_TMP/decide.out"
else
	skip "decide: the diagnosis of the escape job" "no script(1)"
	skip "decide: prints nothing of the candidate's escapes" "no script(1)"
fi

# ---- TIOCSTI: typing into the terminal shipgate runs in --------------------------------------------

W=$(new_tmp tiocsti)
cp "$SHIPGATE_ATTACK" "$W/attack"
m="INJECTED$(unique)"
if $have_script; then
	# control: the harness (not the candidate) can inject into its own terminal, and the
	# read afterwards sees it: so the check below would see an injection
	on_tty "$TEST_TMP/control.out" "$PY -c 'import fcntl, termios
for c in b\"echo CONTROL$m\\n\": fcntl.ioctl(0, termios.TIOCSTI, bytes([c]))'; read -t 2 line; echo \"read:[\$line]\""
	like "$(cat "$TEST_TMP/control.out")" "read:\\[echo CONTROL$m\\]" "control: TIOCSTI from outside the sandbox reaches the terminal's input"
	for policy in default none; do
		on_tty "$TEST_TMP/tiocsti.out" "cd '$W' && '$SHIPGATE' exec -q --policy $policy --trace '$W/t.jsonl' -- ./attack tiocsti $m; echo rc=\$?; read -t 1 line; echo \"read:[\$line]\""
		out=$(cat "$TEST_TMP/tiocsti.out")
		like "$out" "isatty0 1" "tiocsti (policy $policy): the command's stdin is the terminal"
		like "$out" "tiocsti stdin EPERM" "tiocsti (policy $policy): TIOCSTI on stdin: refused"
		like "$out" "tiocsti stdin-highbits EPERM" "tiocsti (policy $policy): with the high bits set (CVE-2019-10063): refused"
		like "$out" "/dev/tty ENXIO" "tiocsti (policy $policy): there is no controlling terminal to open (setsid)"
		like "$out" "read:\\[\\]" "tiocsti (policy $policy): nothing arrived in the terminal's input"
	done
	like "$(grep '"event":"denied"' "$W/t.jsonl" | head -1)" '"syscall":"ioctl"' \
		"tiocsti: with the default policy, the attempt is in the trace as a denied ioctl"
else
	for i in $(seq 1 12); do skip "tiocsti ($i)" "no script(1)"; done
fi
J=$(hjob tiocstirun '{"version":1,"name":"tiocsti","workspace":"ws","steps":[{"name":"t","run":["./attack","tiocsti","'"$m"'"]}]}')
hrun "$J"
check_survival 0 "tiocsti in run"
like "$(cat "$J/out/logs/t.stdout")" "isatty0 0" "run: a step has no terminal at all (stdin is /dev/null)"
is "$(step '["violations"][0]["syscall"]')" ioctl "run: the TIOCSTI attempts are recorded as denied ioctls"
check_contained "$m" "tiocsti"

done_testing
