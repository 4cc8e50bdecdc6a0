#!/bin/sh
# cases.sh MODE WORKSPACE [DELEGATED_CGROUP]: the cgroup cases of
# tests/integration/test_cgroup_limits.sh, inside the qemu guest (busybox only: no python,
# so the evidence's top-level fields are read with awk from shipgate's one-field-a-line
# JSON). MODE is "root" (shipgate as real root, cgroups below the root cgroup) or
# "rootless" (uid 1000, cgroups below DELEGATED_CGROUP, a subtree chowned to it; each run
# gets a cgroup of its own there, as `systemd-run --user --scope` would give it).
# WORKSPACE empty means: a directory on /tmp (tmpfs) with --cow.
#
# Prints TAP lines numbered through /run/tap-count (shared by both modes) and "#" lines
# with the figures of every run.
set -u
MODE=$1
WS=${2:-}
DELEG=${3:-}
OUT=/run/sgout/$MODE
mkdir -p "$OUT"
WS_OPTS=""
if [ -z "$WS" ]; then
	WS=/tmp/ws-$MODE
	mkdir -p "$WS"
	WS_OPTS="--cow"
fi

next() { n=$(($(cat /run/tap-count) + 1)); echo "$n" >/run/tap-count; }
ok() { next; echo "ok $n - $MODE: $1"; }
not_ok() { next; echo "not ok $n - $MODE: $1"; }
todo() { next; echo "not ok $n - $MODE: $1 # TODO $2"; }
check() {
	d=$1
	shift
	if "$@"; then ok "$d"; else not_ok "$d"; fi
}
# jf FILE KEY [DEPTH]: the value of KEY at DEPTH tabs of indentation (default 1: the
# top level; 2 for the fields of "enforced"), without quotes, brackets and spaces
jf() {
	awk -v key="$2" -v depth="${3:-1}" 'BEGIN { p = ""; for (i = 0; i < depth; i++) p = p "\t"; p = p "\"" key "\":\t" }
		index($0, p) == 1 { v = substr($0, length(p) + 1); sub(/,$/, "", v)
			gsub(/"/, "", v); gsub(/ /, "", v); gsub(/\[/, "", v); gsub(/\]/, "", v); print v; exit }' "$1"
}
jf2() { jf "$1" "$2" 2; }
has_word() { case ",$1," in *",$2,"*) return 0 ;; *) return 1 ;; esac; }
between() { awk -v lo="$1" -v v="$2" -v hi="$3" 'BEGIN { exit !(v + 0 >= lo + 0 && v + 0 <= hi + 0) }'; }
num_ge() { [ -n "$1" ] && [ "$1" != null ] && [ "$1" -ge "$2" ]; }
summary() {
	line="#"
	for k in status exit_code signal wall_ms cpu_ms peak_memory_kb pids_peak oom_kills limits_hit leftover_processes; do
		line="$line $k=$(jf "$1" "$k")"
	done
	echo "$line cgroup=$(jf "$1" mode 3) workspace=$(jf2 "$1" workspace) identity=$(jf2 "$1" identity)"
}

runs=0
# launch CMD...: run it under a 90 s timeout; rootless, in a fresh cgroup of its own below
# the delegated one (shipgate's own cgroup must hold nothing else for it to delegate).
launch() {
	if [ "$MODE" = rootless ]; then
		runs=$((runs + 1))
		mkdir "$DELEG/run-$runs"
		timeout 90 sh -c 'echo $$ >"$1/cgroup.procs" && shift && exec "$@"' sh "$DELEG/run-$runs" "$@"
	else
		timeout 90 "$@"
	fi
}
# sg NAME ARGS...: shipgate exec with its evidence in $OUT/NAME.json; sets rc and ev
sg() {
	name=$1
	shift
	ev=$OUT/$name.json
	rm -f "$ev"
	launch shipgate exec --workspace "$WS" $WS_OPTS --ro-bind /opt/sgtools:/sgtools --evidence "$ev" "$@" \
		>"$OUT/$name.out" 2>"$OUT/$name.err"
	rc=$?
	echo "# $MODE $name: exec exit $rc"
	sed 's/^/#   stderr: /' "$OUT/$name.err" | head -5
	if [ -s "$ev" ]; then summary "$ev"; else echo "#   no evidence" && echo "{}" >"$ev"; fi
}
sg_dirs() { find /sys/fs/cgroup -type d -name 'sg-*' 2>/dev/null | tr '\n' ' '; }

# --- memory ------------------------------------------------------------------------------
sg oom --memory 64 -- /sgtools/memhog 512
check "oom: exec exits 137 (got $rc)" [ "$rc" -eq 137 ]
check "oom: status is oom" [ "$(jf "$ev" status)" = oom ]
check "oom: oom_kills >= 1" num_ge "$(jf "$ev" oom_kills)" 1
check "oom: memory in limits_hit" has_word "$(jf "$ev" limits_hit)" memory

# --- pids --------------------------------------------------------------------------------
sg forkbomb --pids 64 --timeout 5 -- /sgtools/forkbomb
check "fork bomb: status is timeout" [ "$(jf "$ev" status)" = timeout ]
check "fork bomb: pids in limits_hit" has_word "$(jf "$ev" limits_hit)" pids
peak=$(jf "$ev" pids_peak)
if [ "$peak" = null ] || [ -z "$peak" ]; then
	ok "fork bomb: pids_peak not reported (no pids.peak on $(uname -r)) # SKIP"
else
	check "fork bomb: pids_peak $peak <= 64" [ "$peak" -le 64 ]
fi
left=$(for c in /proc/[0-9]*/comm; do [ "$(cat "$c" 2>/dev/null)" = forkbomb ] && echo "${c%/comm}"; done)
check "fork bomb: no process of it left${left:+ (left: $left)}" [ -z "$left" ]
d=$(sg_dirs)
check "fork bomb: no sg-* cgroup left${d:+ ($d)}" [ -z "$d" ]
check "fork bomb: exec exits 137 after the timeout (got $rc)" [ "$rc" -eq 137 ]

# --- cpu ---------------------------------------------------------------------------------
sg cpu --cpus 0.2 -- /sgtools/spin 2000
cpu_ms=$(jf "$ev" cpu_ms)
wall_ms=$(jf "$ev" wall_ms)
ratio=$(awk -v c="$cpu_ms" -v w="$wall_ms" 'BEGIN { if (w + 0 > 0) printf "%.3f", c / w; else print "nan" }')
check "cpu: the busy loop ran to its end" [ "$(jf "$ev" status)" = passed ]
check "cpu: cpu_ms/wall_ms = $cpu_ms/$wall_ms = $ratio is between 0.10 and 0.35" between 0.10 "$ratio" 0.35

# --- peak memory -------------------------------------------------------------------------
sg peak --memory 512 -- /sgtools/memhog 100 300
pk=$(jf "$ev" peak_memory_kb)
check "peak: status is passed" [ "$(jf "$ev" status)" = passed ]
check "peak: peak_memory_kb $pk is within 90..125% of 102400" between 92160 "$pk" 128000

# --- workspace modes on 6.1 (root only) --------------------------------------------------
if [ "$MODE" = root ]; then
	if [ -z "$WS_OPTS" ]; then
		check "workspace on ext4 is bind-idmapped" [ "$(jf2 "$OUT/peak.json" workspace)" = bind-idmapped ]
		sg ws-write -- /bin/sh -c 'echo written >/workspace/by-sandbox && ls -ln /workspace/by-sandbox'
		owner=$(stat -c %u:%g "$WS/by-sandbox" 2>/dev/null)
		check "the sandbox's root writes the idmapped ext4 workspace, as host root ($owner)" \
			[ "$rc" -eq 0 ] && [ "$owner" = 0:0 ]
	fi
	mkdir -p /tmp/ws-tmpfs
	saved_ws=$WS saved_opts=$WS_OPTS
	WS=/tmp/ws-tmpfs WS_OPTS=""
	sg tmpfs-bind -- /bin/true
	# tmpfs has no idmapped mounts before 6.3: a writable bind would make the sandbox's
	# root unable to write it, so exec refuses clearly (fail closed) and --cow copies
	if [ "$rc" -eq 0 ]; then
		ok "a tmpfs workspace runs writable: $(jf2 "$ev" workspace)"
	else
		check "a tmpfs workspace without idmapped mounts is refused clearly (exit $rc), pointing at --cow" \
			[ "$rc" -eq 125 ] && grep -q -- "--cow" "$OUT/tmpfs-bind.err"
	fi
	WS_OPTS="--cow"
	printf 'seed-content\n' >/tmp/ws-tmpfs/seed
	mkdir -p /tmp/ws-tmpfs/sub && printf 'deeper\n' >/tmp/ws-tmpfs/sub/file
	sg tmpfs-cow -- /bin/sh -c 'echo x >/workspace/f && test -s /workspace/f &&
		test "$(cat /workspace/seed)" = seed-content && test "$(cat /workspace/sub/file)" = deeper'
	check "a tmpfs workspace with --cow runs, its files there ($(jf2 "$ev" workspace))" [ "$rc" -eq 0 ]
	WS=$saved_ws WS_OPTS=$saved_opts
fi

# --- the scratch watcher freezes the step (cgroup.freeze) while it sums the layer -----------
# a copy-on-write step of 2.5 s is summed twice, each time frozen and thawed: it must run
# to its end, not stay frozen (the root cases' workspace is bind-idmapped: --cow here)
saved_opts=$WS_OPTS
WS_OPTS="--cow"
sg frozen-walks -- /bin/sh -c 'i=0; while [ $i -lt 25 ]; do echo $i >/workspace/w$i; sleep 0.1; i=$((i+1)); done; echo walked'
check "a watched step frozen for each walk of its layer runs to its end (exit $rc, $(jf "$ev" wall_ms) ms)" \
	sh -c '[ "$1" -eq 0 ] && grep -q walked "$2" && [ "$3" -ge 2000 ]' _ "$rc" "$OUT/frozen-walks.out" "$(jf "$ev" wall_ms)"
WS_OPTS=$saved_opts

# --- doctor ------------------------------------------------------------------------------
launch shipgate doctor >"$OUT/doctor.txt" 2>&1
echo "# $MODE doctor (exit $?):"
sed 's/^/#   /' "$OUT/doctor.txt"
launch shipgate doctor --json >"$OUT/doctor.json" 2>/dev/null
layout=$(awk -F'\t' '$0 ~ /^\t\t"layout":/ { v = $NF; gsub(/[",]/, "", v); print v; exit }' "$OUT/doctor.json")
check "doctor: layout is v2 (got ${layout:-nothing})" [ "$layout" = v2 ]
usable=$(awk '/^\t\t\t"[a-z]+":\t\{$/ { c = $1; gsub(/[":]/, "", c) }
	/^\t\t\t\t"usable":/ { u = $2; sub(/,$/, "", u); printf "%s%s=%s", sep, c, u; sep = "," }' "$OUT/doctor.json")
check "doctor: memory, pids and cpu usable ($usable)" sh -c \
	'case ",$1," in *,memory=true,*) ;; *) exit 1 ;; esac; case ",$1," in *,pids=true,*) ;; *) exit 1 ;; esac
	 case ",$1," in *,cpu=true,*) ;; *) exit 1 ;; esac' sh "$usable"
check "doctor: its proof sandbox ran in a v2 cgroup" grep -q 'full sandbox in .*(cgroup v2)' "$OUT/doctor.txt"
if [ "$MODE" = root ]; then
	# Root in a login session's scope, shared with other processes (a Debian 12 root
	# login, sudo): shipgate cannot delegate below it without moving others, so it takes
	# a parent of its own at the top of the hierarchy; the limits must still hold.
	mkdir -p /sys/fs/cgroup/user.slice/session-t.scope
	sleep 300 &
	holder=$!
	echo "$holder" >/sys/fs/cgroup/user.slice/session-t.scope/cgroup.procs
	ev=$OUT/root-shared.json
	sh -c 'echo $$ > /sys/fs/cgroup/user.slice/session-t.scope/cgroup.procs; exec "$@"' sh \
		shipgate exec --workspace "$WS" $WS_OPTS --memory 64 --ro-bind /opt/sgtools:/sgtools --evidence "$ev" \
		-- /sgtools/memhog 512 >"$OUT/root-shared.out" 2>"$OUT/root-shared.err"
	rc=$?
	echo "# root exec --memory 64 from a shared session scope: exit $rc: $(head -c 300 "$OUT/root-shared.err")"
	check "root in a shared session scope: the memory limit holds (oom, exit $rc)" \
		[ "$rc" -eq 137 ] && [ "$(jf2 "$ev" status)" = oom ]
	check "root in a shared session scope: the scope itself was not touched (no subtree control)" \
		[ -z "$(cat /sys/fs/cgroup/user.slice/session-t.scope/cgroup.subtree_control)" ]
	kill "$holder" 2>/dev/null
	wait "$holder" 2>/dev/null
fi
if [ "$MODE" = rootless ]; then
	# From the session's cgroup, which holds this shell too, shipgate cannot delegate
	# controllers without moving a process that is not its own: a limit asked for must
	# then fail closed, never run without it.
	shipgate exec --workspace "$WS" --memory 64 -- /bin/true >"$OUT/shared.out" 2>"$OUT/shared.err"
	rc=$?
	echo "# rootless exec --memory 64 from the shared session cgroup: exit $rc: $(head -c 300 "$OUT/shared.err")"
	check "exec --memory from a cgroup shared with other processes fails closed (exit $rc)" \
		[ "$rc" -eq 125 ]
	shipgate doctor >"$OUT/doctor-shared.txt" 2>&1
	grep -E 'cgroup limits|\] sandbox|memory ' "$OUT/doctor-shared.txt" | sed 's/^ */# rootless doctor from the shared session cgroup: /'
	if grep -q 'full sandbox in .*(cgroup v2)' "$OUT/doctor-shared.txt" ||
		grep -Eq '^ +memory +v2 +not usable' "$OUT/doctor-shared.txt" ||
		grep -Eq 'FAIL\] cgroup limits' "$OUT/doctor-shared.txt"; then
		ok "doctor from a shared cgroup: what it reports usable is what its sandbox gets"
	else
		todo "doctor from a shared cgroup reports memory usable, yet its own sandbox ran without a cgroup" \
			"executor: doctor's 'usable' ignores v2's no-internal-processes rule"
	fi
fi

# --- nothing left ------------------------------------------------------------------------
d=$(sg_dirs)
check "no sg-* cgroup directory is left anywhere${d:+ ($d)}" [ -z "$d" ]
if [ "$MODE" = rootless ]; then
	echo "# rootless: what the runs left in the delegated subtree:" \
		"$(cd "$DELEG" && find . -mindepth 1 -type d | sort | tr '\n' ' ')"
	for r in $(cd "$DELEG" && find . -mindepth 1 -maxdepth 1 -type d -name 'run-*'); do
		find "$DELEG/$r" -depth -type d -exec rmdir {} \; 2>/dev/null
	done
fi
