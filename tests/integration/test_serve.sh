#!/bin/sh
# test_serve.sh: `shipgate serve` end to end: clients of two uids, a hostile client, cancel,
# 50 jobs four at a time, SIGTERM mid-job (tests/tools/serve_test.py says what each
# case proves). Needs root, to serve another uid, and setpriv, to be uid 65534.
#
# Environment (ctest sets it): SHIPGATE, SHIPGATE_SOURCE_DIR.
set -eu
: "${SHIPGATE:?set SHIPGATE to the shipgate binary}"
SRC=${SHIPGATE_SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}
if [ "$(id -u)" -ne 0 ]; then
	echo "1..0 # SKIP serving other uids needs a root daemon"
	exit 77
fi
if ! command -v setpriv >/dev/null 2>&1 || [ ! -x /usr/bin/python3 ]; then
	echo "1..0 # SKIP needs setpriv (util-linux) and /usr/bin/python3"
	exit 77
fi
# the nested shipgate's LeakSanitizer cannot ptrace under setpriv's no_new_privs
export ASAN_OPTIONS="${ASAN_OPTIONS:-}${ASAN_OPTIONS:+:}detect_leaks=0"
exec /usr/bin/python3 "$SRC/tests/tools/serve_test.py"
