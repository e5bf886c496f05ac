# postfix.sh - a private Postfix instance as a benchmark peer (sourced, POSIX sh)
#
# Sets up a throw-away Postfix (Debian's postfix package, 3.7) with its own
# configuration and queue under a directory of yours, listening on a loopback
# port of yours, relaying everything to 127.0.0.1:SINKPORT (an smtp-sink) or
# holding it (delivery blocked). The system Postfix is neither needed nor
# touched: nothing is written under /etc/postfix or /var/spool/postfix, and
# every command is given -c DIR.
#
# Functions (DIR is the instance's directory; all need root):
#   pf_available                 0 if Postfix and its tools are installed
#   pf_create DIR PORT SINKPORT  write DIR/etc (main.cf, master.cf), DIR/spool,
#                                (every directory above DIR must be searchable
#                                by the postfix user: mktemp -d makes 0700)
#                                DIR/data; SMTP on 127.0.0.1:PORT, relayhost
#                                [127.0.0.1]:SINKPORT; fsync as shipped
#   pf_set DIR NAME=VALUE...     change main.cf parameters (postconf -e)
#   pf_block DIR / pf_unblock DIR
#                                hold outgoing mail in the deferred queue
#                                (defer_transports = smtp) / let it go again
#   pf_start DIR / pf_stop DIR   start / stop the instance (stop also kills
#                                what is left of it)
#   pf_count DIR [QUEUE...]      number of queue files, by default in incoming
#                                active deferred hold maildrop
#   pf_wait_count DIR N SECS [QUEUE...]
#                                wait until pf_count says exactly N
#   pf_wait_drain DIR SECS       wait until the instance's queue is empty
#   pf_postqueue DIR ARGS...     postqueue -c DIR ARGS (e.g. -j, -f)
#   pf_postsuper DIR ARGS...     postsuper -c DIR ARGS (e.g. -h ALL)
#   pf_sink_start PORT [DIR]     an smtp-sink on 127.0.0.1:PORT (pid in
#                                DIR/sink.pid, default /tmp) / pf_sink_stop
#   pf_fill DIR PORT N [SIZE]    N messages of SIZE bytes (default 2048) with
#                                smtp-source, 20 sessions; prints seconds taken
#   pf_now                       seconds since the epoch, with nanoseconds
#
# Example:
#   . tests/bench/lib/postfix.sh
#   pf_create /tmp/pf 2626 2627 && pf_block /tmp/pf && pf_start /tmp/pf
#   pf_fill /tmp/pf 2626 20000 && pf_wait_count /tmp/pf 20000 120 deferred
#   pf_postqueue /tmp/pf -j | wc -l; pf_stop /tmp/pf

PF_MASTER_CF=${PF_MASTER_CF:-/etc/postfix/master.cf}

pf_available() {
	[ -x /usr/sbin/postfix ] && [ -x /usr/sbin/postqueue ] && [ -x /usr/sbin/postsuper ] &&
		[ -x /usr/sbin/smtp-source ] && [ -r "$PF_MASTER_CF" ] && id postfix >/dev/null 2>&1
}

pf_now() {
	date +%s.%N
}

pf_create() {
	_d=$1 _port=$2 _sink=$3
	mkdir -p "$_d/etc" "$_d/spool" "$_d/data" || return 1
	chown postfix "$_d/data"
	# the stock master.cf without chroot (the private spool has no chroot
	# tree) and with smtpd on our port
	awk -v port="$_port" '
		/^[#[:space:]]/ || NF < 8 { print; next }
		$1 == "smtp" && $2 == "inet" { $1 = "127.0.0.1:" port }
		{ $5 = "n"; print }' "$PF_MASTER_CF" > "$_d/etc/master.cf" || return 1
	cat > "$_d/etc/main.cf" <<EOF2
compatibility_level = 3.6
queue_directory = $_d/spool
data_directory = $_d/data
myhostname = bench.localdomain
mydomain = localdomain
myorigin = \$myhostname
inet_interfaces = loopback-only
inet_protocols = ipv4
mydestination =
alias_maps =
alias_database =
local_recipient_maps =
relayhost = [127.0.0.1]:$_sink
mynetworks = 127.0.0.0/8
smtpd_relay_restrictions = permit_mynetworks, reject
smtpd_recipient_restrictions = permit_mynetworks, reject
default_process_limit = 100
smtp_tls_security_level = none
smtpd_tls_security_level = none
biff = no
EOF2
	# no "postfix set-permissions": it would also reset modes of the
	# installed programs; "start" creates the private queue directories
	postfix -c "$_d/etc" check >/dev/null 2>&1
}

pf_set() {
	_d=$1
	shift
	postconf -c "$_d/etc" -e "$@"
}

pf_block() {
	pf_set "$1" "defer_transports = smtp relay"
	[ -f "$1/spool/pid/master.pid" ] && postfix -c "$1/etc" reload >/dev/null 2>&1
	return 0
}

pf_unblock() {
	pf_set "$1" "defer_transports ="
	[ -f "$1/spool/pid/master.pid" ] && postfix -c "$1/etc" reload >/dev/null 2>&1
	[ -f "$1/spool/pid/master.pid" ] && postqueue -c "$1/etc" -f >/dev/null 2>&1
	return 0
}

pf_start() {
	postfix -c "$1/etc" start >/dev/null 2>&1 || return 1
	# wait for the master's pid file and the smtpd port's listener
	_i=0
	while [ $_i -lt 100 ] && [ ! -s "$1/spool/pid/master.pid" ]; do
		sleep 0.1
		_i=$((_i + 1))
	done
	[ -s "$1/spool/pid/master.pid" ]
}

pf_stop() {
	_d=$1
	postfix -c "$_d/etc" stop >/dev/null 2>&1
	_i=0
	while [ $_i -lt 50 ] && [ -s "$_d/spool/pid/master.pid" ] &&
		kill -0 "$(cat "$_d/spool/pid/master.pid" 2>/dev/null)" 2>/dev/null; do
		sleep 0.1
		_i=$((_i + 1))
	done
	if [ -s "$_d/spool/pid/master.pid" ]; then
		_p=$(tr -dc 0-9 < "$_d/spool/pid/master.pid")
		[ -n "$_p" ] && kill -9 "$_p" 2>/dev/null
	fi
	return 0
}

pf_count() {
	_d=$1
	shift
	[ $# -gt 0 ] || set -- incoming active deferred hold maildrop
	_n=0
	for _q in "$@"; do
		[ -d "$_d/spool/$_q" ] || continue
		_c=$(find "$_d/spool/$_q" -type f | wc -l)
		_n=$((_n + _c))
	done
	echo $_n
}

pf_wait_count() {
	_d=$1 _want=$2 _secs=$3
	shift 3
	_end=$(($(date +%s) + _secs))
	while [ "$(pf_count "$_d" "$@")" -ne "$_want" ]; do
		[ "$(date +%s)" -lt $_end ] || return 1
		sleep 0.2
	done
}

pf_wait_drain() {
	pf_wait_count "$1" 0 "$2"
}

pf_postqueue() {
	_d=$1
	shift
	postqueue -c "$_d/etc" "$@"
}

pf_postsuper() {
	_d=$1
	shift
	postsuper -c "$_d/etc" "$@"
}

pf_sink_start() {
	_pd=${2:-/tmp}
	smtp-sink -u nobody "127.0.0.1:$1" 1000 >/dev/null 2>&1 &
	echo $! > "$_pd/sink.pid"
}

pf_sink_stop() {
	_pd=${1:-/tmp}
	[ -s "$_pd/sink.pid" ] && kill "$(cat "$_pd/sink.pid")" 2>/dev/null
	rm -f "$_pd/sink.pid"
	return 0
}

pf_fill() {
	_port=$2 _n=$3 _size=${4:-2048}
	_t0=$(pf_now)
	smtp-source -s 20 -m "$_n" -l "$_size" -f a@x.test -t b@example.com \
		"127.0.0.1:$_port" || return 1
	_t1=$(pf_now)
	echo "$_t0 $_t1" | awk '{ printf "%.3f\n", $2 - $1 }'
}
