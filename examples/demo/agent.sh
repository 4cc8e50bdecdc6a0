#!/bin/sh
# examples/demo/agent.sh: a stand-in for a coding agent, for scripts/demo. It runs on the
# host before each attempt of `shipgate loop`. On the first attempt it changes nothing;
# afterwards it reads the diagnosis shipgate wrote and fixes the bug only if that
# diagnosis names the failing test: the fix comes from the evidence, not from a guess.
set -eu
echo "agent: attempt $SHIPGATE_ATTEMPT of $SHIPGATE_MAX_ATTEMPTS"
if [ -z "${SHIPGATE_DIAGNOSIS:-}" ]; then
	echo "agent: no diagnosis yet, submitting the code as it is"
	exit 0
fi
echo "agent: the diagnosis says:"
sed -n '1,12p' "$SHIPGATE_DIAGNOSIS" | sed 's/^/  | /'
if grep -q "2+3\*4" "$SHIPGATE_DIAGNOSIS" && grep -q 'v += rhs;' "$SHIPGATE_WORKSPACE/calc.c"; then
	sed -i 's/v += rhs;/v *= rhs;/' "$SHIPGATE_WORKSPACE/calc.c"
	echo "agent: 2+3*4 gave 9: multiplication adds; fixed calc.c"
else
	echo "agent: nothing I know how to fix"
fi
