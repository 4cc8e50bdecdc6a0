#!/bin/sh
# test_resources.sh: a candidate that tries to exhaust the host: a memory bomb, memory
# touched slowly until the timeout, a busy thread on every CPU, 100 MB on stdout. Each is
# stopped by its limit, and the verdict says which limit (from the cgroup's and the
# supervisor's own accounting, never from what the candidate printed).
. "$(dirname "$0")/lib.sh"
require_root

plan 46

# ---- a memory bomb -----------------------------------------------------------------------

if is_root; then
	J=$(hjob membomb '{"version":1,"name":"membomb","workspace":"ws","limits":{"memory_mb":128,"timeout_s":30},"steps":[
	 {"name":"bomb","run":["./attack","memhog"]}]}')
	hrun "$J"
	check_survival 1 "memory bomb"
	is "$(step '["status"]')" oom "memory bomb: the step's status is oom (the cgroup's OOM killer), not signaled"
	is "$(step '["limits_hit"]')" '["memory"]' "memory bomb: limits_hit names memory"
	num "$(step '["oom_kills"]')" -ge 1 "memory bomb: the cgroup counted the OOM kill"
	num "$(step '["peak_memory_kb"]')" -le $((136 * 1024)) "memory bomb: the peak stayed at the 128 MB limit"
	num "$(step '["wall_ms"]')" -lt 20000 "memory bomb: it was stopped long before the timeout"
	check_contained "$J" "memory bomb"
else
	for i in 1 2 3 4 5 6 7 8 9 10 11 12; do skip "memory bomb ($i)" "needs a memory cgroup (root)"; done
fi

# ---- memory touched slowly, until the timeout ------------------------------------------------

J=$(hjob slow '{"version":1,"name":"slow","workspace":"ws","limits":{"memory_mb":512,"timeout_s":2},"steps":[
 {"name":"slow","run":["./attack","slowtouch"]}]}')
hrun "$J"
check_survival 1 "slow memory"
is "$(step '["status"]')" timeout "slow memory: under the memory limit until the end, the step is a timeout"
is "$(step '["limits_hit"]')" '["timeout"]' "slow memory: limits_hit names only the timeout"
num "$(step '["wall_ms"]')" -lt 4000 "slow memory: killed at the 2 s timeout ($(step '["wall_ms"]') ms)"
if is_root; then
	num "$(step '["peak_memory_kb"]')" -ge $((40 * 1024)) "slow memory: the peak shows the growth ($(step '["peak_memory_kb"]') kB)"
else
	skip "slow memory: the peak shows the growth" "no memory cgroup rootless"
fi
check_contained "$J" "slow memory"

# ---- a busy thread on every CPU ------------------------------------------------------------

J=$(hjob spin '{"version":1,"name":"spin","workspace":"ws","limits":{"cpus":0.5,"timeout_s":2},"steps":[
 {"name":"spin","run":["./attack","spin"]}]}')
"$SHIPGATE" run "$J/job.json" --out "$J/out" </dev/null >"$TEST_TMP/spin.out" 2>&1 &
SG_PID=$!
i=0
while [ -z "$(sg_cgroups_of "$SG_PID")" ] && [ $i -lt 50 ]; do
	sleep 0.05
	i=$((i + 1))
done
if is_root; then
	isnt "$(sg_cgroups_of "$SG_PID")" "" "control: while it spins, the step's cgroup sg-$SG_PID-* exists"
else
	skip "control: while it spins, the step's cgroup exists" "no cgroup rootless"
fi
wait "$SG_PID"
SG_RC=$?
ST=$J/out/statement.json
check_survival 1 "spin"
is "$(step '["status"]')" timeout "spin: status timeout"
if is_root; then
	is "$(jget "$ST" 'd["predicate"]["enforced"]["cgroup"]["cpus"]')" 0.5 "spin: the verdict says a 0.5 CPU limit was enforced"
	cpu=$(step '["cpu_ms"]')
	wall=$(step '["wall_ms"]')
	num "$cpu" -le $((wall * 7 / 10 + 100)) "spin: threads on every CPU got at most the 0.5 CPU share ($cpu ms of CPU in $wall ms)"
else
	skip "spin: the verdict says a 0.5 CPU limit was enforced" "no cpu cgroup rootless"
	skip "spin: threads on every CPU got at most the 0.5 CPU share" "no cpu cgroup rootless"
fi
check_contained "$J" "spin"

# ---- 100 MB on stdout ------------------------------------------------------------------------

J=$(hjob flood '{"version":1,"name":"flood","workspace":"ws","limits":{"output_kb":1024},"steps":[
 {"name":"flood","run":["./attack","flood","100"]}]}')
hrun "$J"
check_survival 0 "flood"
is "$(step '["stdout"]["bytes"]')" 104857600 "flood: every byte is counted"
is "$(step '["stdout"]["truncated"]')" true "flood: the stream is marked truncated"
is "$(step '["stdout"]["sha256"]')" "$("$PY" -c 'import hashlib; print(hashlib.sha256(b"A" * (100 << 20)).hexdigest())')" \
	"flood: and digested in full"
is "$(stat -c %s "$J/out/logs/flood.stdout")" 1048576 "flood: the log keeps exactly output_kb (1 MiB)"
like "$(step '["limits_hit"]')" '"output"' "flood: limits_hit names output"
check_contained "$J" "flood"

done_testing
