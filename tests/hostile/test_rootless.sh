#!/bin/sh
# test_rootless.sh: a representative subset of the hostile cases with shipgate run by an
# unprivileged user. Started as root, everything below runs as nobody (setpriv
# --reuid=65534, as tests/integration/test_rootless.sh does), with its own copy of the
# binary owned by nobody (so that the candidate, also nobody on the host, would own it
# too) and its own signing key; started as anyone else, it runs as that user.
# Rootless, the sandbox's root is the caller itself: what keeps the candidate from the
# caller's files, keys and processes is the namespaces, the mounts, no_new_privs,
# non-dumpable init, seccomp and Landlock, not a different uid.
. "$(dirname "$0")/lib.sh"

plan 54

RL=$(new_tmp rootless)
if is_root; then
	RUN_UID=65534
	RUN_GID=65534
	mkdir "$RL/bin" "$RL/policies" "$RL/home"
	cp "$SHIPGATE" "$RL/bin/shipgate"
	cp -r "$SHIPGATE_POLICY_DIR/." "$RL/policies/"
	chmod -R a+rX "$RL/policies"
	chown -R "$RUN_UID:$RUN_GID" "$RL/bin" "$RL/home" "$TMPDIR"
	chmod 0755 "$RL/bin/shipgate"
	cat >"$RL/shipgate-as-nobody" <<EOF
#!/bin/sh
exec setpriv --reuid=$RUN_UID --regid=$RUN_GID --clear-groups env HOME=$RL/home XDG_STATE_HOME=$RL/home/state "$RL/bin/shipgate" "\$@"
EOF
	chmod 0755 "$RL/shipgate-as-nobody"
	REAL_SHIPGATE=$RL/bin/shipgate
	SHIPGATE=$RL/shipgate-as-nobody
	export SHIPGATE_POLICY_DIR="$RL/policies"
	XDG_STATE_HOME=$RL/home/state
	diag "running as root: the cases below run as uid $RUN_UID through setpriv"
else
	RUN_UID=$(id -u)
	RUN_GID=$(id -g)
	REAL_SHIPGATE=$SHIPGATE
	diag "running as uid $RUN_UID: the cases below run as that user"
fi
# as_user CMD...: a host command as the user shipgate runs as
as_user() {
	if is_root; then
		setpriv --reuid="$RUN_UID" --regid="$RUN_GID" --clear-groups "$@"
	else
		"$@"
	fi
}
# rjob NAME JSON: hjob, owned by the user shipgate runs as (it writes the out dir there)
rjob() {
	_j=$(hjob "$1" "$2")
	is_root && chown -R "$RUN_UID:$RUN_GID" "$_j"
	echo "$_j"
}

# ---- privilege: the kernel's attack surface, its own uid map, init's namespaces ----------------

J=$(rjob priv '{"version":1,"name":"priv","workspace":"ws","allow_weaker_isolation":true,"steps":[
 {"name":"priv","run":"./attack idmap; ./attack status; grep -E \"^ +0 +\" /proc/self/uid_map; ./attack syscalls unshare_mount setns keyctl bpf userfaultfd perf_event_open"}]}')
hrun "$J"
check_survival 1 "rootless privilege"
log=$(cat "$J/out/logs/priv.stdout")
like "$log" "^/proc/self/uid_map EPERM$" "rootless: writing its own uid_map is refused"
like "$log" "^CapEff:[[:space:]]*0+$" "rootless: no capability"
like "$log" "^NoNewPrivs:[[:space:]]*1$" "rootless: no_new_privs"
like "$log" "^ +0 +$RUN_UID +1$" "rootless: uid 0 inside is the caller ($RUN_UID), and only that uid is mapped"
is "$(printf '%s\n' "$log" | grep -c '^[a-z_]* EPERM$' )" 6 \
	"rootless: unshare+mount, setns, keyctl, bpf, userfaultfd and perf_event_open are refused"
is "$(step '["status"]')" violation "rootless: the step is a violation"
check_contained "$J" "rootless privilege"

# ---- the caller's secrets: environment, signing key, init's memory and binary -----------------

secret="HOSTILE-ENV-$(unique)"
J=$(rjob info '{"version":1,"name":"info","workspace":"ws","allow_weaker_isolation":true,"steps":[
 {"name":"info","run":"env | grep -c HOSTILE; ./attack read /proc/1/environ /proc/1/mem '"$XDG_STATE_HOME"'/shipgate/shipgate.key '"$RL"'/home; ./attack exe"}]}')
before=$(sha256sum "$REAL_SHIPGATE" | cut -d' ' -f1)
HOSTILE_SECRET=$secret hrun "$J"
check_survival 0 "rootless information"
log=$(cat "$J/out/logs/info.stdout")
ok "control: the caller's signing key exists ($XDG_STATE_HOME/shipgate/shipgate.key)" test -s "$XDG_STATE_HOME/shipgate/shipgate.key"
like "$log" "^0$" "rootless: the caller's environment is not inside"
like "$log" "^/proc/1/environ (EACCES|EPERM)$" "rootless: init's environ (the caller's) cannot be read, although init runs as the same uid"
like "$log" "^/proc/1/mem (EACCES|EPERM)$" "rootless: nor init's memory"
like "$log" "$XDG_STATE_HOME/shipgate/shipgate.key ENOENT$" "rootless: the caller's signing key is not there"
like "$log" "^$RL/home ENOENT$" "rootless: the caller's home is not there"
if is_root; then
	is "$(stat -c %u "$REAL_SHIPGATE")" "$RUN_UID" "control: the shipgate binary belongs to the caller, as the candidate does"
else
	pass "control: the shipgate binary belongs to the caller, as the candidate does"
fi
like "$log" "^/proc/1/exe write (EACCES|EPERM)$" "rootless: the caller's own shipgate binary cannot be opened for writing through /proc/1/exe"
is "$(sha256sum "$REAL_SHIPGATE" | cut -d' ' -f1)" "$before" "rootless: the shipgate binary is unchanged"
is "$(grep -rl "$secret" "$J/out" | wc -l)" 0 "rootless: the secret is nowhere in the out dir"
check_contained "$J" "rootless information"

# ---- processes: a daemon, kill -1, leaked descriptors ------------------------------------------

m="300.$(unique)"
J=$(rjob proc '{"version":1,"name":"proc","workspace":"ws","allow_weaker_isolation":true,"steps":[
 {"name":"daemon","run":["./attack","daemon","'"$m"'"]},
 {"name":"killall","run":["./attack","killall"]},
 {"name":"fds","run":["./attack","fds"]}]}')
exec 7<"$RL" 9</etc/passwd
hrun "$J"
exec 7<&- 9<&-
check_survival 0 "rootless processes"
num "$(step '["leftover_processes"]')" -ge 1 "rootless: the daemon is counted as left over"
like "$(cat "$J/out/logs/killall.stdout")" "^survived$" "rootless: kill -1 SIGKILL, and the step still ends normally"
like "$(cat "$J/out/logs/fds.stdout")" "^open fds 0$" "rootless: no descriptor leaks into the command"
check_contained "$m" "rootless processes"

# ---- the host's abstract sockets ---------------------------------------------------------------

abs="hostile-$(unique)"
"$PY" -c 'import socket, sys, time
s = socket.socket(socket.AF_UNIX); s.bind("\0" + sys.argv[1]); s.listen(1); time.sleep(20)' "$abs" &
listener=$!
track_pid "$listener"
sleep 0.2
W=$(new_tmp absws)
cp "$SHIPGATE_ATTACK" "$W/attack"
is_root && chown -R "$RUN_UID:$RUN_GID" "$W"
hexec --workspace "$W" -- ./attack abstract "$abs"
like "$SG_OUT" "^abstract stream ECONNREFUSED$" "rootless: the host's abstract socket @$abs is out of reach"
kill "$listener"

# ---- escapes in the reason, a hostile tree in the scratch ----------------------------------------

J=$(rjob esc '{"version":1,"name":"esc","workspace":"ws","allow_weaker_isolation":true,"steps":[{"name":"m","run":["./attack","mount_esc"]}]}')
hrun "$J"
check_survival 1 "rootless escapes"
printf '%s\n' "$SG_OUT" >"$TEST_TMP/esc.out"
ok "rootless: the progress lines carry none of the candidate's escapes" no_hostile_escapes "$TEST_TMP/esc.out"

# a tree the supervisor (the same uid, without CAP_DAC_OVERRIDE) must still remove: deep,
# with directories made unreadable and unwritable by their owner, the candidate
J=$(rjob tree '{"version":1,"name":"tree","workspace":"ws","allow_weaker_isolation":true,"steps":[
 {"name":"tree","run":"mkdir -p a/b/c && touch a/b/c/f a/b/g && chmod 0 a/b/c && chmod 500 a/b && chmod 0 a && python3 -c \"import os\nfor i in range(1500):\n    os.mkdir(\\\"d\\\"); os.chdir(\\\"d\\\")\""}]}')
hrun "$J"
check_survival 0 "rootless hostile tree"
is "$(jget "$ST" 'd["predicate"]["changed_files_total"] > len(d["predicate"]["changed_files"])')" true \
	"rootless hostile tree: changed_files says it is incomplete (too deep), not a crash"
check_contained "$J" "rootless hostile tree"

# ---- what rootless cannot hold without a delegated cgroup ------------------------------------------

# Without a pids cgroup, exec's default pids limit falls back to RLIMIT_NPROC (which the
# kernel counts per user namespace: the sandbox's own processes), and says so.
hexec --workspace "$W" -- sh -c 'grep "^Max processes" /proc/self/limits'
nproc=$(printf '%s\n' "$SG_OUT" | awk '{ print $3 }')
if printf '%s\n' "$SG_ERR" | grep -q "RLIMIT_NPROC"; then
	ok "rootless exec without a pids cgroup: the number of processes is still bounded (RLIMIT_NPROC $nproc)" \
		sh -c '[ "$1" != unlimited ] && [ "$1" -le 1024 ]' sh "$nproc"
else
	skip "rootless exec without a pids cgroup: the number of processes is bounded" "this user has a delegated cgroup"
fi

done_testing
