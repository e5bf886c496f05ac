#!/bin/sh
# run.sh - run every benchmark (tests/bench/bench_*), in name order.
#
# Each benchmark prints its results as lines
#     bench NAME sealgate=X [postfix=Y ratio=X/Y] unit=U
# so that runs can be compared. QUICK=1 asks each for a short version.
# SEALGATE_BIN names the directory with sealgated and sealctl.
set -u
here=$(dirname "$0")
status=0
found=0
for b in "$here"/bench_*; do
	[ -x "$b" ] || continue
	found=1
	echo "# $(basename "$b")"
	"$b" || { echo "# $(basename "$b") FAILED" >&2; status=1; }
done
[ $found = 1 ] || echo "# no benchmarks in $here"
exit $status
