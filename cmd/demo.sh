#!/bin/sh
# demo.sh - start sealgate in the foreground with a self-contained demo set-up.
#
# Everything lives under run/ in the source tree (ignored by git; or under
# $SEALGATE_DEMO_DIR): a config, the state directory, a demo PKI made with
# openssl on first run (a CA and an ECDSA gateway certificate for
# example.test, imported into the gateway's certificate database), and an
# smtp-sink standing in for the internal mail server, which writes every
# message it receives under run/delivered/.
#
# Mail from loopback is outbound (own_servers): the demo rules sign it with
# the gateway certificate. Ctrl-C stops the gateway and the sink.
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
run=${SEALGATE_DEMO_DIR:-$top/run}
bin=${SEALGATE_BIN:-$top/bin}
port=${SEALGATE_DEMO_PORT:-2525}
sink=$((port + 1))
mkdir -p "$run/state" "$run/pki" "$run/delivered"
# smtp-sink writes as nobody
chmod 1777 "$run/delivered"

if [ ! -f "$run/pki/gateway.p12" ]; then
	echo "demo: creating demo certificates in $run/pki"
	(
	cd "$run/pki"
	openssl req -x509 -newkey rsa:2048 -nodes -days 3650 \
		-subj "/O=sealgate demo/CN=sealgate demo CA" \
		-addext "basicConstraints=critical,CA:TRUE" \
		-addext "keyUsage=critical,keyCertSign,cRLSign" \
		-keyout ca.key -out ca.pem 2>/dev/null
	openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
		-subj "/O=sealgate demo/CN=example.test gateway/emailAddress=gateway@example.test" \
		-keyout gateway.key -out gateway.csr 2>/dev/null
	printf '%s\n' 'subjectAltName=email:gateway@example.test,DNS:localhost,IP:127.0.0.1' \
		'keyUsage=critical,digitalSignature,keyAgreement' \
		'extendedKeyUsage=emailProtection,serverAuth' > ext.cnf
	openssl x509 -req -in gateway.csr -CA ca.pem -CAkey ca.key -CAcreateserial \
		-days 825 -extfile ext.cnf -out gateway.pem 2>/dev/null
	openssl pkcs12 -export -inkey gateway.key -in gateway.pem -certfile ca.pem \
		-passout pass: -name "example.test gateway" -out gateway.p12 </dev/null
	rm -f gateway.csr ext.cnf
	)
	rm -rf "$run/state/nssdb"
fi

cat > "$run/sealgate.conf" <<CONF
# Demo configuration written by cmd/demo.sh; see sealgate.conf.example.
state_dir = "$run/state";
hostname = "localhost";
own_domains = [ "example.test" ];
own_servers = [ "127.0.0.0/8", "::1" ];
certs = {
	tls_cert = "example.test gateway";
};
smtpd = {
	listeners = ( { address = "127.0.0.1:$port"; security = "starttls"; name = "demo"; } );
};
worker = {
	rules = (
		{ name = "outbound"; direction = "outbound"; sign = "if-possible";
		  encrypt = "if-possible"; },
		{ name = "inbound"; direction = "inbound"; decrypt = true; verify = true;
		  harvest = true; },
		{ name = "other"; }
	);
};
delivery = {
	# Everything goes to the smtp-sink this script starts, as if it were
	# the internal mail server; nothing leaves the machine.
	smarthost = "127.0.0.1:$sink";
	retry_min = "30s";
};
CONF

if [ ! -d "$run/state/nssdb" ]; then
	"$bin/sealctl" -c "$run/sealgate.conf" cert init >/dev/null
	"$bin/sealctl" -c "$run/sealgate.conf" cert import "$run/pki/ca.pem" --ca >/dev/null
	"$bin/sealctl" -c "$run/sealgate.conf" cert import "$run/pki/gateway.p12" \
		--gateway example.test >/dev/null
fi
"$bin/sealgated" -n -c "$run/sealgate.conf" >/dev/null

# The stand-in internal mail server. A background job of a script ignores
# Ctrl-C, so it is stopped when the gateway has ended.
smtp-sink -u nobody -d "$run/delivered/%Y%m%d%H%M%S." 127.0.0.1:$sink 100 &
sink_pid=$!
trap 'kill $sink_pid 2>/dev/null' EXIT
trap ':' INT TERM
for i in 1 2 3 4 5 6 7 8 9 10; do
	ss -Hltn "sport = :$sink" | grep -q . && break
	sleep 0.2
done

cat <<MSG

sealgate demo: listening on 127.0.0.1:$port (STARTTLS offered), state in $run/state
  demo certificates: $run/pki (CA ca.pem, gateway gateway.p12, empty password)
  send a test mail (loopback is an own server: the mail leaves signed):
      swaks --server 127.0.0.1:$port --from a@example.test --to b@example.org
  delivered mail lands in $run/delivered/ (an smtp-sink on 127.0.0.1:$sink)
  look at the queue:      $bin/sealctl -c $run/sealgate.conf queue list
  certificates:           $bin/sealctl -c $run/sealgate.conf cert list
  stop: Ctrl-C

MSG
"$bin/sealgated" -c "$run/sealgate.conf" -f
