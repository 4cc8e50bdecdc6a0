#!/bin/sh
# test_information.sh: a candidate that tries to read what is not its own: /etc/shadow and
# the other hidden files of /etc, the host's SSH keys, home directories, the signing key of
# the user running shipgate, the caller's environment (directly, and through /proc/1, init
# being a fork of the supervisor), /proc/kcore, other processes' environ.
. "$(dirname "$0")/lib.sh"
require_root

plan 47

secret="HOSTILE-ENV-$(unique)"
export HOSTILE_SECRET="$secret"

# the key `run` signs with (made on first use, in the test's own XDG_STATE_HOME)
J=$(hjob keygen '{"version":1,"name":"keygen","workspace":"ws","steps":[{"name":"s","run":"true"}]}')
hrun "$J"
KEY=$XDG_STATE_HOME/shipgate/shipgate.key
ok "control: the user's signing key exists on the host ($KEY)" test -s "$KEY"

host_keys=$(ls /etc/ssh/ssh_host_*_key 2>/dev/null | tr '\n' ' ')
paths="/etc/shadow /etc/gshadow /etc/sudoers /etc/subuid $host_keys /root/.ssh /home $HOME/.ssh $KEY /proc/kcore"
# shellcheck disable=SC2086 # a list of paths
J=$(hjob info '{"version":1,"name":"info","workspace":"ws","steps":[
 {"name":"info","run":"./attack read '"$(echo $paths)"'; env | grep -c HOSTILE; echo \"init: $(tr \"\\0\" \" \" </proc/1/cmdline)\"; ./attack read /proc/1/environ /proc/1/mem /proc/1/maps; printf %s '"$(printf '%s' "$secret" | cut -c1-6)"' >/tmp/p; printf %s '"$(printf '%s' "$secret" | cut -c7-)"' >>/tmp/p; grep -l -a -F -f /tmp/p /proc/[0-9]*/environ /proc/[0-9]*/cmdline /workspace/* /tmp/* 2>/dev/null | grep -v ^/tmp/p; echo scanned"}]}')
hrun "$J"
check_survival 0 "information"
log=$(cat "$J/out/logs/info.stdout")
for f in /etc/shadow /etc/gshadow /etc/sudoers /etc/subuid; do
	if [ -e "$f" ]; then
		like "$log" "^$f ENOENT$" "$f is absent inside (the host has one)"
	else
		like "$log" "^$f ENOENT$" "$f is absent inside"
	fi
done
if [ -n "$host_keys" ]; then
	is "$(printf '%s\n' "$log" | grep -c '^/etc/ssh/ssh_host_.*_key ENOENT$')" "$(echo $host_keys | wc -w)" \
		"every private SSH host key of the host ($(echo $host_keys | wc -w)) is absent inside"
else
	skip "every private SSH host key is absent inside" "this host has none"
fi
like "$log" "^/root/.ssh ENOENT$" "/root/.ssh is absent inside"
like "$log" "^/home ENOENT$" "/home is absent inside"
like "$log" "^$HOME/.ssh ENOENT$" "the home of the user running shipgate ($HOME) is absent inside"
like "$log" "^$KEY ENOENT$" "the signing key is absent inside"
like "$log" "^/proc/kcore (ENOENT|EACCES|EPERM)$" "/proc/kcore cannot be read"
like "$log" "^0$" "the caller's HOSTILE_SECRET is not in the command's environment"
like "$log" "^/proc/1/environ (EACCES|EPERM)$" "init's environ (the supervisor's, inherited by fork) cannot be read"
like "$log" "^init: shipgate-init *$" "init's command line is not shipgate's (no host paths, no arguments)"
like "$log" "^/proc/1/mem (EACCES|EPERM)$" "nor init's memory"
like "$log" "^/proc/1/maps (EACCES|EPERM)$" "nor its memory map"
is "$(printf '%s\n' "$log" | sed -n '/^\/proc\/1\/maps/,/^scanned$/p' | sed '1d;$d')" "" \
	"no process's environ or command line inside, no file of /workspace or /tmp, holds the secret"
is "$(grep -rl "$secret" "$J/out" | wc -l)" 0 "the secret is nowhere in the out dir"
check_contained "$J" "information"
# control: the same scan finds the secret when the job passes it on purpose
sed 's/"workspace":"ws",/"workspace":"ws","env":{"LEAKED":"'"$secret"'"},/' "$J/job.json" >"$J/job2.json"
mv "$J/job2.json" "$J/job.json"
hrun "$J"
like "$(cat "$J/out/logs/info.stdout")" "^/proc/[0-9]+/environ$" "control: the scan finds a secret the job hands over in its env"

# the key where the steps could read it: refused before anything runs
J=$(hjob keyinws '{"version":1,"name":"keyinws","workspace":"ws","steps":[{"name":"s","run":"touch ran"}]}')
XDG_STATE_HOME=$J/ws/state hrun "$J"
is "$SG_RC" 2 "a signing key inside the workspace: shipgate run refuses it (exit 2)"
like "$SG_ERR" "private key lies in the workspace" "and says why"
ok "and nothing ran" test ! -e "$J/out/statement.json"

# exec handed a home directory as its workspace (the local harness run from ~): shipgate's
# own state there, the signing key `run` signs with and the root filesystem images a
# job's verdict names by digest, must be neither read nor written. Writable, such a
# workspace is refused (hiding was not enough: the command moved the hidden directory's
# parent aside and planted its own key, or wrote one where none was yet); with --cow the
# command writes a copy and what it could read is hidden
H=$(new_tmp home)
mkdir -p "$H/.local/state/shipgate" "$H/.cache/shipgate/rootfs/img/bin"
keytext="PRIVATE-KEY-$(unique)"
printf '%s\n' "$keytext" >"$H/.local/state/shipgate/shipgate.key"
chmod 600 "$H/.local/state/shipgate/shipgate.key"
echo original >"$H/.cache/shipgate/rootfs/img/bin/tool"
echo visible >"$H/notes.txt"
look='cat notes.txt; cat .local/state/shipgate/shipgate.key; echo "entries $(find .local/state/shipgate .cache/shipgate/rootfs -mindepth 1 | wc -l)"; echo tampered >.cache/shipgate/rootfs/img/bin/tool; mv .local/state .local/aside && mkdir -p .local/state/shipgate && echo planted >.local/state/shipgate/shipgate.key; echo done'
XDG_STATE_HOME=$H/.local/state XDG_CACHE_HOME=$H/.cache hexec --workspace "$H" -- sh -c "$look"
is "$SG_RC" 125 "exec --workspace HOME (writable) holding the signing key's directory: refused (exit 125)"
like "$SG_ERR" "holds the signing key's directory .*add --cow" "and says why, and what to do"
XDG_STATE_HOME=$H/.local/state XDG_CACHE_HOME=$H/.cache hexec --cow --workspace "$H" -- sh -c "$look"
like "$SG_OUT" "^visible$" "exec --cow --workspace HOME: the home's own files are the command's"
unlike "$SG_OUT" "$keytext" "the signing key in it is hidden from the command"
like "$SG_OUT" "^entries 0$" "its directory and the root filesystem images show nothing"
like "$SG_OUT" "^done$" "the command moved the key's directory aside and planted a key in its copy"
is "$(cat "$H/.cache/shipgate/rootfs/img/bin/tool") $(cat "$H/.local/state/shipgate/shipgate.key")" "original $keytext" \
	"the host's image and key are as they were"
# a key directory that does not exist yet: a writable workspace that would hold it is
# refused all the same (the command could make it and plant a key)
H2=$(new_tmp home2)
XDG_STATE_HOME=$H2/.local/state XDG_CACHE_HOME=$H2/.cache hexec --workspace "$H2" -- sh -c 'mkdir -p .local/state/shipgate && echo planted >.local/state/shipgate/shipgate.key'
is "$SG_RC" 125 "exec --workspace HOME before any key exists: refused too (exit 125)"
ok "and nothing was planted" test ! -e "$H2/.local/state/shipgate/shipgate.key"
# control: where shipgate keeps no key (XDG_STATE_HOME elsewhere) the same file is plain
# data of the workspace, and the same command reads it: the checks above can see a leak
XDG_STATE_HOME=$TEST_TMP/elsewhere XDG_CACHE_HOME=$TEST_TMP/elsewhere hexec --workspace "$H" -- sh -c "$look"
like "$SG_OUT" "^$keytext$" "control: a file that is not shipgate's key is read like any other"
is "$(cat "$H/.cache/shipgate/rootfs/img/bin/tool")" tampered "control: and written"
# a bind that holds them, or a workspace inside them: refused before anything runs
XDG_STATE_HOME=$H/.local/state hexec --workspace "$J/ws" --ro-bind "$H:/h" -- touch /workspace/ran-bind
is "$SG_RC" 125 "exec --ro-bind of a directory holding the signing key's: refused (exit 125)"
like "$SG_ERR" "holds the signing key's directory" "and says why"
XDG_STATE_HOME=$H/.local/state hexec --cow --workspace "$H/.local/state/shipgate" -- touch ran-inside
is "$SG_RC" 125 "exec --workspace inside the signing key's directory: refused, --cow or not (exit 125)"
ok "and nothing ran" sh -c "test ! -e '$J/ws/ran-bind' && test ! -e '$H/.local/state/shipgate/ran-inside'"
# run: a writable mount holding the key's directory is refused; a workspace holding it
# is the steps' copy, the key hidden in it
JM=$(hjob ownmount '{"version":1,"name":"ownmount","workspace":"ws","mounts":[{"source":"'"$H"'","target":"/h","readonly":false}],"steps":[{"name":"s","run":"touch /h/ran-mount"}]}')
XDG_STATE_HOME=$H/.local/state hrun "$JM" --key "$KEY"
is "$SG_RC" 2 "run: a writable mount holding the signing key's directory: refused (exit 2)"
like "$SG_ERR" "mounts\[0\].source .*holds the signing key's directory" "and names the JSON path"
ok "and nothing ran" test ! -e "$H/ran-mount"

done_testing
