#!/bin/sh
# lint.sh - the habits every source file keeps, checked (style.md).
#
#  1. every .c file opens with a manual-page comment (" * NAME" near the top);
#  2. no unbounded string functions: strcpy, strcat, sprintf, vsprintf, gets,
#     atoi, atol (use snprintf, sg_buf, sg_parse_*);
#  3. no folder includes another folder's private header (X/X_int.h);
#  4. library code never exits: exit() and abort() only in common/log.c and
#     in the programs under cmd/;
#  5. every log event is in the README's log reference;
#  6. in queue/, a top-level transaction ends with queue_txn_commit() or
#     queue_txn_abort(), which release the environment's lock (queue_open.c);
#     LMDB's own mdb_txn_commit/abort only for nested ones, named sub.
# Prints each violation as FILE:LINE: what, and exits 1 if there was any.
set -u
cd "$(dirname "$0")/.."
status=0
src=$(git ls-files -co --exclude-standard -- 'common/*.[ch]' 'queue/*.[ch]' 'certs/*.[ch]' 'metrics/*.[ch]' 'cluster/*.[ch]' \
	'smtpd/*.[ch]' 'worker/*.[ch]' 'delivery/*.[ch]' 'cmd/*.[ch]')

for f in $src; do
	case $f in *.c)
		head -6 "$f" | grep -q '^ \* NAME' ||
			{ echo "$f:1: no manual-page comment (/* NAME ... */) at the top"; status=1; } ;;
	esac
done

# shellcheck disable=SC2086
grep -nE '\b(strcpy|strcat|sprintf|vsprintf|gets|atoi|atol)\s*\(' $src |
	grep -vE '^[^:]+:[0-9]+:\s*(\*|/\*|//)' |
	sed 's/$/  <- unbounded or unchecked: use snprintf, sg_buf, sg_parse_*/' | grep . && status=1

for f in $src; do
	dir=${f%%/*}
	grep -nE '#include\s+"[a-z]+/[a-z]+_int\.h"' "$f" | while IFS= read -r line; do
		inc=$(echo "$line" | sed -E 's/.*"([a-z]+)\/.*/\1/')
		[ "$inc" = "$dir" ] || echo "$f:${line%%:*}: includes another folder's private header"
	done
done | grep . && status=1

# shellcheck disable=SC2086
grep -nE '(^|[^_a-z])(exit|abort)\s*\(' $(echo "$src" | grep -vE '^(cmd/|common/log\.c)') |
	grep -vE '^[^:]+:[0-9]+:\s*(\*|/\*|//)' |
	sed 's/$/  <- library code returns errors; only programs exit/' | grep . && status=1

# 5. every event the code logs is described in the README's log reference
#    (event=NAME in a format string; listeners_changed/loops_changed are
#    chosen at run time).
events=$(grep -ohE 'event=[a-z_-]+' $src | sed 's/event=//' | sort -u)
events="$events listeners_changed loops_changed"
for e in $events; do
	sed -n '/^### Log reference/,/^## /p' README.md | grep -q "\`$e\`" ||
		{ echo "README.md: event=$e is not in the log reference"; status=1; }
done

# 6. queue/'s transactions hold the environment's lock until they end
grep -nE 'mdb_txn_(abort|commit)\s*\(' $(ls queue/*.c | grep -v queue_open.c) |
	grep -vE 'mdb_txn_(abort|commit)\s*\(\s*sub\s*\)' |
	sed 's/$/  <- end a top-level transaction with queue_txn_commit\/abort/' | grep . && status=1

[ $status = 0 ] && echo "lint: ok"
exit $status
