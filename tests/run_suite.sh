#!/usr/bin/env bash
# `make test`: the whole suite as two pytest processes side by side. tests/rehearsal and tests/faults run on stacks
# of their own (the rehearsal's SASL broker and PostgreSQL, the fault rigs': never the session's test stack) and
# mostly wait on JVMs, restarts and failovers, so they run beside the rest instead of after it. Their output goes to
# .cache/test-logs/own-stacks.log (KIM_TEST_LOG_DIR) and is printed when both are done. Exit code: 0 only if both passed (an empty
# selection, pytest's 5, counts as passed when the other side ran tests).
# Usage: tests/run_suite.sh <pytest> [pytest arguments...]
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
pytest=$1
shift
log_dir=${KIM_TEST_LOG_DIR:-.cache/test-logs}
mkdir -p "$log_dir"
log=$log_dir/own-stacks.log
own_tiers=(tests/rehearsal tests/faults)

"$pytest" "${own_tiers[@]}" "$@" >"$log" 2>&1 &
own_pid=$!
# stop the side process (by its pid) if this script is interrupted; its fixtures stop what it started
trap 'kill -INT "$own_pid" 2>/dev/null; wait "$own_pid"; exit 130' INT TERM
echo "tests/rehearsal and tests/faults run beside the rest (pid $own_pid, log $log)"

"$pytest" tests --ignore=tests/rehearsal --ignore=tests/faults "$@"
main_rc=$?
wait "$own_pid"
own_rc=$?
trap - INT TERM

echo
echo "================ tests/rehearsal and tests/faults (run beside the rest; $log) ================"
cat "$log"

if [[ $main_rc -eq 5 && $own_rc -eq 5 ]]; then exit 5; fi
[[ $main_rc -eq 0 || $main_rc -eq 5 ]] || exit "$main_rc"
[[ $own_rc -eq 0 || $own_rc -eq 5 ]] || exit "$own_rc"
exit 0
