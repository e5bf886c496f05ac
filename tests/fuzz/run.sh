#!/bin/sh
# run.sh PREFIX SECONDS - run each built fuzz target PREFIX* for SECONDS.
#
# Seeds come from tests/fuzz/corpus/NAME/ when present; new inputs go to
# build/fuzz/corpus/NAME/. Any crash fails the run.
set -eu
prefix=$1
seconds=$2
here=$(dirname "$0")
status=0
for bin in "$prefix"_*; do
	[ -x "$bin" ] || continue
	name=$(basename "$bin")
	work="build/fuzz/corpus/$name"
	mkdir -p "$work"
	seeds=""
	[ -d "$here/corpus/$name" ] && seeds="$here/corpus/$name"
	echo "fuzz: $name for ${seconds}s"
	if ! "$bin" -max_total_time="$seconds" -print_final_stats=1 \
		-artifact_prefix="build/fuzz/$name-" "$work" $seeds \
		> "build/fuzz/$name.log" 2>&1; then
		tail -40 "build/fuzz/$name.log"
		echo "fuzz: $name FAILED (log: build/fuzz/$name.log)"
		status=1
	else
		grep -E 'stat::number_of_executed_units' "build/fuzz/$name.log" || true
		echo "fuzz: $name ok"
	fi
done
exit $status
