#!/bin/sh
# test_rootless.sh: shipgate run by an unprivileged user. Started as root, it runs
# everything below as nobody (setpriv --reuid=65534), with its own copy of the binary and
# the policies; started as anyone else, it runs as that user. The isolation must hold
# the same; limits that cannot be enforced without a delegated cgroup fail closed (exec
# 125, run 3) unless weaker isolation is accepted explicitly, and then the evidence does
# not claim them; the default exec still runs, with a warning.
. "$(dirname "$0")/lib.sh"

plan 46

RL=$(new_tmp rootless)
if is_root; then
	RUN_UID=65534
	RUN_GID=65534
	cp "$SHIPGATE" "$RL/shipgate"
	chmod 0755 "$RL/shipgate"
	mkdir "$RL/policies"
	[ -d "$SHIPGATE_POLICY_DIR" ] && cp -r "$SHIPGATE_POLICY_DIR/." "$RL/policies/"
	chmod -R a+rX "$RL/policies"
	mkdir "$RL/home"
	chown "$RUN_UID:$RUN_GID" "$RL/home"
	cat >"$RL/shipgate-as-nobody" <<EOF
#!/bin/sh
exec setpriv --reuid=$RUN_UID --regid=$RUN_GID --clear-groups env HOME=$RL/home XDG_STATE_HOME=$RL/home/state "$RL/shipgate" "\$@"
EOF
	chmod 0755 "$RL/shipgate-as-nobody"
	SHIPGATE=$RL/shipgate-as-nobody
	export SHIPGATE_POLICY_DIR="$RL/policies"
	# everything shipgate writes must be writable by nobody
	chown "$RUN_UID:$RUN_GID" "$TMPDIR"
	diag "running as root: the cases below run as uid $RUN_UID through setpriv"
else
	RUN_UID=$(id -u)
	RUN_GID=$(id -g)
	diag "running as uid $RUN_UID: the cases below run as that user"
fi
# as_user CMD...: run a host command as the user shipgate runs as
as_user() {
	if is_root; then
		setpriv --reuid="$RUN_UID" --regid="$RUN_GID" --clear-groups "$@"
	else
		"$@"
	fi
}
# clean_tmpdir: empty TMPDIR after a check found something left there, so that the
# next check starts clean (chmod first: overlay leaves mode-000 work dirs)
clean_tmpdir() {
	chmod -R u+rwx "$TMPDIR" 2>/dev/null
	rm -rf "${TMPDIR:?}"/* "${TMPDIR:?}"/.[!.]* 2>/dev/null
}
WS=$RL/ws
mkdir "$WS"
EV=$RL/evidence
mkdir "$EV"
PROBE_DIR=$RL/probe
mkdir "$PROBE_DIR"
cp "$SHIPGATE_TRY_SYSCALL" "$PROBE_DIR/try_syscall"
chmod -R a+rX "$PROBE_DIR"
chown "$RUN_UID:$RUN_GID" "$WS" "$EV"
cd "$WS" || exit 1

# ---- isolation holds -------------------------------------------------------------------

sg_exec -- sh -c 'echo "$$ $PPID"'
is "$SG_OUT" "2 1" "rootless: the command is pid 2, the child of pid 1"
like "$SG_ERR" "warning" "rootless: the default exec runs, with a warning about the limits it cannot apply"
is "$SG_RC" 0 "rootless: the default exec exits 0"

dur="30.$(unique)"
"$SHIPGATE" exec -- sleep "$dur" </dev/null >/dev/null 2>"$TEST_TMP/uid.err" &
sg_pid=$!
track_pid $sg_pid
inner=$(wait_for_pid_with_args sleep "$dur")
if [ -n "$inner" ]; then
	is "$(awk '/^Uid:/ { print $2, $3, $4, $5 }' "/proc/$inner/status")" \
		"$RUN_UID $RUN_UID $RUN_UID $RUN_UID" "rootless: the command's uid on the host is the caller's ($RUN_UID)"
else
	fail "rootless: the command's uid on the host is the caller's ($RUN_UID)" "no 'sleep $dur' found" \
		"$(cat "$TEST_TMP/uid.err")"
fi
kill -TERM "$sg_pid"
wait_exit "$sg_pid" 5
case "$WAIT_RC" in
0 | timeout) fail "rootless: SIGTERM -> shipgate exits non-zero within 5 s" "status: $WAIT_RC" ;;
*) pass "rootless: SIGTERM -> shipgate exits non-zero within 5 s ($WAIT_RC, ${WAIT_MS} ms)" ;;
esac
ok "rootless: no 'sleep $dur' is left" gone_within 3 "$dur"

sg_exec -- sh -c 'grep -E "^(Cap(Inh|Prm|Eff|Bnd|Amb)|NoNewPrivs):" /proc/self/status'
for c in CapInh CapPrm CapEff CapBnd CapAmb; do
	like "$SG_OUT" "^$c:[[:space:]]+0+$" "rootless: $c is 0"
done
like "$SG_OUT" "^NoNewPrivs:[[:space:]]+1$" "rootless: NoNewPrivs is 1"

probe_name=".sgit-write-$(unique)"
sg_exec -- sh -c '
for f in /etc/shadow /root; do [ -e "$f" ] && echo "$f present"; done
for d in / /usr /etc /workspace /tmp; do
	if echo data >"$d/'"$probe_name"'" 2>/dev/null; then echo "$d writable"; else echo "$d refused"; fi
done; exit 0'
unlike "$SG_OUT" "/etc/shadow present" "rootless: /etc/shadow is absent"
unlike "$SG_OUT" "/root present" "rootless: /root is absent"
for d in / /usr /etc; do
	like "$SG_OUT" "^$d refused$" "rootless: writing in $d fails"
done
like "$SG_OUT" "^/workspace writable$" "rootless: writing in /workspace works"
is "$(stat -c %u "$WS/$probe_name" 2>&1)" "$RUN_UID" "rootless: the file lands in the workspace, owned by the caller"
like "$SG_OUT" "^/tmp writable$" "rootless: writing in /tmp works"
rm -f "$WS/$probe_name"

sg_exec --net none -- ip -o link
is "$(printf '%s\n' "$SG_OUT" | cut -d' ' -f2)" "lo:" "rootless --net none: lo is the only interface"
like "$SG_OUT" "^1: lo: <[A-Z_,]*> .* state DOWN" "rootless --net none: lo is DOWN"

sg_exec --ro-bind "$PROBE_DIR:/probe" -- /probe/try_syscall mount unshare_user ptrace keyctl setns execve
for s in mount unshare_user ptrace keyctl setns; do
	like "$SG_OUT" "^$s EPERM$" "rootless: $s fails with EPERM"
done
like "$SG_OUT" "^execve OK$" "rootless: execve works"

# ---- limits fail closed ------------------------------------------------------------------

sg_exec --memory 100 -- sh -c 'echo RAN'
if is_root || [ "$SG_RC" -ne 0 ]; then
	is "$SG_RC" 125 "rootless --memory 100: exit 125 (the limit cannot be enforced)"
	like "$SG_ERR" "memory limit cannot be enforced" "rootless --memory 100: the message says the limit cannot be enforced"
	unlike "$SG_OUT" RAN "rootless --memory 100: the command did not run"
else
	sg_exec --memory 100 --evidence "$EV/mem-enforced.json" -- true
	is "$(jget "$EV/mem-enforced.json" 'd["enforced"]["cgroup"]["memory_kb"]')" 102400 \
		"rootless --memory 100 ran: so the limit is enforced (a delegated cgroup)"
	skip "rootless --memory 100: the message says the limit cannot be enforced" "this user has a delegated cgroup"
	skip "rootless --memory 100: the command did not run" "this user has a delegated cgroup"
fi

sg_exec --memory 100 --allow-weaker --evidence "$EV/weaker.json" -- sh -c 'echo RAN'
is "$SG_RC" 0 "rootless --memory 100 --allow-weaker: runs"
is "$SG_OUT" RAN "rootless --memory 100 --allow-weaker: the command ran"
mem=$(jget "$EV/weaker.json" 'd["enforced"]["cgroup"]["memory_kb"]')
case "$mem" in
false | 102400) pass "rootless --allow-weaker: the evidence claims no memory limit it did not apply ($mem)" ;;
*) fail "rootless --allow-weaker: the evidence claims no memory limit it did not apply" "memory_kb: $mem" ;;
esac

# ---- the workspace and scratch under --cow and run ---------------------------------------

as_user sh -c "echo alpha >'$WS/a.txt'; echo bravo >'$WS/b.txt'; mkdir '$WS/sub'; echo c >'$WS/sub/c'"
before=$(tree_listing "$WS")
sg_exec --cow -- sh -c 'set -e; echo more >>a.txt; rm b.txt; rm -r sub; echo new >new.txt; cat a.txt'
like "$SG_OUT" "^more$" "rootless --cow: the command changes the workspace"
is "$(tree_listing "$WS")" "$before" "rootless --cow: the host workspace is unchanged"
is "$(ls -A "$TMPDIR")" "" "rootless --cow: no scratch dir is left in \$TMPDIR"
clean_tmpdir

J=$RL/job
mkdir "$J"
cp -r "$WS" "$J/src"
chown -R "$RUN_UID:$RUN_GID" "$J"
cat >"$J/limits.json" <<'EOF'
{ "version": 1, "name": "limits", "workspace": "src", "limits": { "memory_mb": 100, "pids": 64 },
  "steps": [ { "name": "write", "run": "echo more >>a.txt; rm b.txt" } ] }
EOF
cat >"$J/weaker.json" <<'EOF'
{ "version": 1, "name": "weaker", "workspace": "src", "allow_weaker_isolation": true,
  "limits": { "memory_mb": 100, "pids": 64 },
  "steps": [ { "name": "write", "run": "echo more >>a.txt; rm b.txt" },
             { "name": "see", "run": "grep -q more a.txt && test ! -e b.txt" } ] }
EOF
chown "$RUN_UID:$RUN_GID" "$J"/*.json
before=$(tree_listing "$J/src")
sg_run "$J/limits.json" --out "$J/out-limits"
if is_root || [ "$SG_RC" -ne 0 ]; then
	is "$SG_RC" 3 "rootless run with explicit limits: exit 3 (fails closed)"
	like "$SG_OUT$SG_ERR" "limit cannot be enforced" "rootless run with explicit limits: says the limit cannot be enforced"
else
	skip "rootless run with explicit limits: exit 3 (fails closed)" "this user has a delegated cgroup"
	skip "rootless run with explicit limits: says the limit cannot be enforced" "this user has a delegated cgroup"
fi
clean_tmpdir

sg_run "$J/weaker.json" --out "$J/out-weaker"
S=$J/out-weaker/statement.json
is "$SG_RC" 0 "rootless run with allow_weaker_isolation: passes"
is "$(jget "$S" 'd["predicate"]["executor"]["mode"]')" rootless "rootless run: the statement says rootless"
mem=$(jget "$S" 'd["predicate"]["enforced"]["cgroup"]["memory_kb"]')
case "$mem" in
false | 102400) pass "rootless run: the statement claims no memory limit it did not apply ($mem)" ;;
*) fail "rootless run: the statement claims no memory limit it did not apply" "memory_kb: $mem" ;;
esac
is "$(tree_listing "$J/src")" "$before" "rootless run: the host workspace is unchanged"
is "$(ls -A "$TMPDIR")" "" "rootless run: no scratch dir is left in \$TMPDIR"

# ---- the timeout kills the whole tree ----------------------------------------------------

d1="300.$(unique)"
sg_exec --timeout 1 --evidence "$EV/timeout.json" -- sh -c "setsid sleep $d1 & sleep $d1"
is "$(jget "$EV/timeout.json" 'd["status"]')" timeout "rootless --timeout 1: status timeout"
ok "rootless --timeout 1: no 'sleep $d1' is left" gone_within 3 "$d1"

done_testing
