#!/bin/sh
# run.sh PREFIX SECONDS [JOBS] - run each built fuzz target PREFIX_* (or the
# one named PREFIX) for SECONDS, JOBS of them at a time (default 1). No
# target found is a failure, never an empty "all passed".
#
# Seeds come from tests/fuzz/corpus/NAME/ when present: they are replayed at
# the start of every run, so every input that ever crashed a target, kept
# there (crash-*), is a regression test. New inputs go to build/fuzz/corpus/
# NAME/, so later runs start from what earlier ones found. Any crash, leak
# or sanitizer report fails the run; the input is written to
# build/fuzz/NAME-crash-* (or -leak-, -timeout-) and the line to keep it is
# printed. LeakSanitizer reads tests/lsan.supp (libraries we do not ship).
set -eu
prefix=$1
seconds=$2
jobs=${3:-1}
here=$(cd "$(dirname "$0")" && pwd)
LSAN_OPTIONS="suppressions=$here/../lsan.supp:print_suppressions=0"
export LSAN_OPTIONS

# one - fuzz one target; its report goes to build/fuzz/NAME.log
one() {
	bin=$1
	name=$(basename "$bin")
	work="build/fuzz/corpus/$name"
	mkdir -p "$work"
	seeds=""
	[ -d "$here/corpus/$name" ] && seeds="$here/corpus/$name"
	# shellcheck disable=SC2086
	if "$bin" -max_total_time="$seconds" -timeout=20 -print_final_stats=1 \
		-artifact_prefix="build/fuzz/$name-" "$work" $seeds \
		> "build/fuzz/$name.log" 2>&1; then
		runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "build/fuzz/$name.log")
		echo "fuzz: $name ok (${seconds}s, ${runs:-?} runs)"
	else
		tail -40 "build/fuzz/$name.log"
		echo "fuzz: $name FAILED (log: build/fuzz/$name.log)"
		for a in "build/fuzz/$name"-crash-* "build/fuzz/$name"-leak-* \
			"build/fuzz/$name"-timeout-*; do
			[ -f "$a" ] && echo "fuzz: keep it: cp $a $here/corpus/$name/crash-$(basename "$a" | \
				sed 's/.*-\([0-9a-f]\{12\}\).*/\1/')"
		done
		return 1
	fi
}

mkdir -p build/fuzz
status=0
pids=""
running=0
found=0
for bin in "$prefix" "$prefix"_*; do
	[ -f "$bin" ] && [ -x "$bin" ] || continue
	case $bin in *.d) continue ;; esac
	found=$((found + 1))
	one "$bin" &
	pids="$pids $!"
	running=$((running + 1))
	if [ "$running" -ge "$jobs" ]; then
		for p in $pids; do wait "$p" || status=1; done
		pids=""
		running=0
	fi
done
for p in $pids; do wait "$p" || status=1; done
if [ $found = 0 ]; then
	echo "fuzz: no target $prefix or ${prefix}_* is built" >&2
	status=1
fi
[ $status = 0 ] && echo "fuzz: all passed" || echo "fuzz: FAILED"
exit $status
