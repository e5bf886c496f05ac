#!/bin/sh
# demo.sh - start sealgate in the foreground with a self-contained demo set-up.
#
# Everything lives under run/ in the source tree (ignored by git; or under
# $SEALGATE_DEMO_DIR): a config,
# the state directory, and a demo PKI made with openssl on first run (a CA
# and a gateway certificate for example.test). Ctrl-C stops it cleanly.
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
run=${SEALGATE_DEMO_DIR:-$top/run}
bin=${SEALGATE_BIN:-$top/bin}
port=${SEALGATE_DEMO_PORT:-2525}
mkdir -p "$run/state" "$run/pki"

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
	printf 'subjectAltName=email:gateway@example.test,DNS:localhost\nkeyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=emailProtection,serverAuth\n' > ext.cnf
	openssl x509 -req -in gateway.csr -CA ca.pem -CAkey ca.key -CAcreateserial \
		-days 825 -extfile ext.cnf -out gateway.pem 2>/dev/null
	openssl pkcs12 -export -inkey gateway.key -in gateway.pem -certfile ca.pem \
		-passout pass: -name "example.test gateway" -out gateway.p12 </dev/null
	rm -f gateway.csr ext.cnf
	)
fi

cat > "$run/sealgate.conf" <<CONF
# Demo configuration written by cmd/demo.sh; see sealgate.conf.example.
state_dir = "$run/state";
hostname = "localhost";
own_domains = [ "example.test" ];
own_servers = [ "127.0.0.0/8", "::1" ];
smtpd = {
	listeners = ( { address = "127.0.0.1:$port"; security = "none"; name = "demo"; } );
};
CONF

"$bin/sealgated" -n -c "$run/sealgate.conf" >/dev/null
cat <<MSG

sealgate demo: listening on 127.0.0.1:$port, state in $run/state
  demo certificates: $run/pki (CA ca.pem, gateway gateway.p12, empty password)
  send a test mail:   swaks --server 127.0.0.1:$port --from a@example.test --to b@example.test
  look at the queue:  $bin/sealctl -c $run/sealgate.conf queue list
  stop: Ctrl-C

MSG
exec "$bin/sealgated" -c "$run/sealgate.conf" -f
