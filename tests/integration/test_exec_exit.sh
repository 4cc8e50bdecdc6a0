#!/bin/sh
# test_exec_exit.sh: `shipgate exec` reports how the command ended exactly as the kernel
# told it: its exit code passed through, 128+N for signal N, 127 not found, 126 not
# executable, 125 (or 126/127) with a message when the sandbox cannot be set up; and the
# evidence file says the same.
. "$(dirname "$0")/lib.sh"

plan 40

WS=$(new_tmp ws)
cd "$WS" || exit 1
E=$TEST_TMP/evidence.json

sg_exec --evidence "$E" -- sh -c 'echo out; echo err >&2; exit 0'
is "$SG_RC" 0 "exit 0 -> shipgate exec exits 0"
is "$SG_OUT" out "the command's stdout is passed through"
like "$SG_ERR" "^err$" "the command's stderr is passed through"
is "$(jget "$E" 'd["status"]')" passed "exit 0 -> evidence status passed"
is "$(jget "$E" 'd["exit_code"]')" 0 "exit 0 -> evidence exit_code 0"

rm -f "$E"
sg_exec --evidence "$E" -- sh -c 'exit 42'
is "$SG_RC" 42 "exit 42 -> shipgate exec exits 42"
is "$(jget "$E" 'd["exit_code"]')" 42 "exit 42 -> evidence exit_code 42"
is "$(jget "$E" 'd["status"]')" failed "exit 42 -> evidence status failed"
is "$(jget "$E" 'd["signal"]')" null "exit 42 -> evidence signal null"

sg_exec -- sh -c 'exit 255'
is "$SG_RC" 255 "exit 255 -> shipgate exec exits 255"

# a file without "#!": glibc's execvp runs it with /bin/sh, copying argv's pointers onto
# the stack of the child that execs (init's spawn stack, CLONE_VM): 70,000 arguments
# are 560 KB of pointers, more than a fixed 512 KiB stack held (it crashed, SIGSEGV)
printf 'echo "args: $#"\n' >nohashbang.sh
chmod +x nohashbang.sh
rm -f "$E"
sg_exec --evidence "$E" -- ./nohashbang.sh $(seq 70000)
is "$SG_RC" 0 "a #!-less script with 70,000 arguments runs"
is "$SG_OUT" "args: 70000" "and gets all of them"
is "$(jget "$E" 'd["signal"]')" null "and the evidence records no signal"

rm -f "$E"
sg_exec --evidence "$E" -- sh -c 'kill -SEGV $$'
is "$SG_RC" 139 "kill -SEGV \$\$ -> shipgate exec exits 139 (128+11)"
is "$(jget "$E" 'd["signal"]')" SIGSEGV "kill -SEGV -> evidence signal SIGSEGV"
is "$(jget "$E" 'd["status"]')" signaled "kill -SEGV -> evidence status signaled"
is "$(jget "$E" 'd["exit_code"]')" null "kill -SEGV -> evidence exit_code null (no exit code)"

sg_exec -- sh -c 'kill -KILL $$'
is "$SG_RC" 137 "kill -KILL \$\$ -> shipgate exec exits 137 (128+9)"

sg_exec -- sh -c 'echo "I printed: Segmentation fault" >&2; exit 3'
is "$SG_RC" 3 "text printed by the command does not change its exit code"

# not found, not executable
sg_exec -- no-such-command-sgit
is "$SG_RC" 127 "a command that does not exist -> 127"
like "$SG_ERR" "no-such-command-sgit" "and the message names it"
sg_exec -- /workspace/no/such/path
is "$SG_RC" 127 "a path that does not exist -> 127"

printf '#!/bin/sh\necho should not run\n' >"$WS/noexec.sh"
chmod 644 "$WS/noexec.sh"
sg_exec -- ./noexec.sh
is "$SG_RC" 126 "a file without the x bit -> 126"
unlike "$SG_OUT" "should not run" "and it did not run"
like "$SG_ERR" "noexec.sh" "and the message names it"
sg_exec -- /workspace
is "$SG_RC" 126 "a directory as the command -> 126"

# a sandbox that cannot be set up as asked
EMPTY=$(new_tmp emptyroot)
sg_exec --rootfs "$EMPTY" -- sh -c 'echo ran'
case "$SG_RC" in
125 | 126 | 127) pass "--rootfs of an empty directory (no /bin/sh) -> $SG_RC (125, 126 or 127)" ;;
*) fail "--rootfs of an empty directory (no /bin/sh) -> 125, 126 or 127" "exit status: $SG_RC" "$SG_ERR" ;;
esac
like "$SG_ERR" "^shipgate exec: .*(sh|rootfs|root filesystem).*" "and the message says what is missing"
unlike "$SG_OUT" "ran" "and nothing ran"

# a root filesystem given as a directory: a static busybox is all it holds. The path is
# one of exec's arguments, which init blanks from its command line; it did so before it
# opened the directory, so every --rootfs DIR failed with "rootfs : No such file"
MINI=$(new_tmp miniroot)
if [ -x /bin/busybox ] && ! ldd /bin/busybox >/dev/null 2>&1; then
	mkdir -p "$MINI/bin" && cp /bin/busybox "$MINI/bin/" && ln -s busybox "$MINI/bin/sh"
	sg_exec --rootfs "$MINI" -- /bin/sh -c 'echo "in $(busybox ls /bin | busybox tr "\n" " ")"; busybox tr "\0" " " </proc/1/cmdline'
	is "$SG_RC" 0 "--rootfs DIR with a static busybox runs the command"
	like "$SG_OUT" "^in busybox sh " "in that root (its /bin holds busybox and sh)"
	like "$SG_OUT" "shipgate-init *\$" "and init's command line is still blanked before the command starts"
else
	for what in "--rootfs DIR runs the command" "in that root" "init's command line blanked"; do
		skip "$what" "no static /bin/busybox (Debian's busybox-static)"
	done
fi

sg_exec --rootfs "$TEST_TMP/no-such-rootfs" -- sh -c 'echo ran'
isnt "$SG_RC" 0 "--rootfs of a directory that does not exist fails"
like "$SG_ERR" "no-such-rootfs" "and the message names it"
unlike "$SG_OUT" "ran" "and nothing ran"

sg_exec --workspace "$TEST_TMP/no-such-ws" -- sh -c 'echo ran'
isnt "$SG_RC" 0 "--workspace that does not exist fails"
like "$SG_ERR" "no-such-ws" "and the message names it"
unlike "$SG_OUT" "ran" "and nothing ran"

# SIGCHLD ignored by the caller (inherited across exec): the kernel would reap init
# itself, wait4 fail, and the command's status be lost (a passing step was a timeout)
out=$(timeout -k 5 30 "$PY" -c 'import os, signal, sys
signal.signal(signal.SIGCHLD, signal.SIG_IGN)
os.execv(sys.argv[1], sys.argv[1:])' "$SHIPGATE" exec --evidence "$E" -- sh -c 'exit 7' </dev/null 2>&1)
is "$?" 7 "with SIGCHLD ignored by the caller, the command's own exit code (7)"
is "$(jget "$E" 'd["exit_code"]')" 7 "... and the evidence has it"

done_testing
