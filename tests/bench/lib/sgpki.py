"""sgpki - the throw-away PKI and certificate database of the signing benches.

make(dir, sealctl, conf) builds with openssl, in dir:
  ca           an RSA-2048 CA (imported as a trust anchor);
  seal-ec      ECDSA P-256 seal, gateway certificate of ec.test;
  seal-rsa     RSA-2048 seal, gateway certificate of rsa.test;
  seal-se      RSA-2048 seal, gateway certificate of se.test (sign+encrypt);
  own          RSA-2048, gateway certificate of own.test: the key inbound
               mail is encrypted to;
  partner      RSA-2048, public only: the recipient partner@partner.test;
  ext          RSA-2048, not imported: the signer of inbound mail
               (its certificate travels in the signature);
and imports them with sealctl into the database of conf; a key-bearing
certificate keeps its PKCS#12 friendly name (the name above) as its NSS
nickname.
"""

import os
import subprocess


def _run(args, cwd, log):
    subprocess.run(args, cwd=cwd, check=True, stdout=log, stderr=subprocess.STDOUT)


def _issue(d, name, email, algo, log):
    if algo == "ec":
        key = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256"]
    else:
        key = ["-newkey", "rsa:2048"]
    _run(["openssl", "req", *key, "-nodes", "-keyout", f"{name}.key", "-out", f"{name}.csr",
          "-subj", f"/CN={name}"], d, log)
    with open(os.path.join(d, f"{name}.ext"), "w") as f:
        f.write("keyUsage=critical,digitalSignature,keyEncipherment\n"
                if algo != "ec" else "keyUsage=critical,digitalSignature\n")
        f.write(f"extendedKeyUsage=emailProtection\nsubjectAltName=email:{email}\n")
    _run(["openssl", "x509", "-req", "-in", f"{name}.csr", "-CA", "ca.crt", "-CAkey", "ca.key",
          "-CAcreateserial", "-out", f"{name}.crt", "-days", "30", "-extfile", f"{name}.ext"],
         d, log)
    _run(["openssl", "pkcs12", "-export", "-inkey", f"{name}.key", "-in", f"{name}.crt",
          "-name", name, "-passout", "pass:pw", "-out", f"{name}.p12"], d, log)


def make(d, sealctl, conf):
    with open(os.path.join(d, "pki.log"), "wb") as log:
        _run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key",
              "-out", "ca.crt", "-days", "30", "-subj", "/CN=bench-ca", "-addext",
              "basicConstraints=critical,CA:true", "-addext",
              "keyUsage=critical,keyCertSign,cRLSign"], d, log)
        for name, email, algo in (("seal-ec", "seal@ec.test", "ec"),
                                  ("seal-rsa", "seal@rsa.test", "rsa"),
                                  ("seal-se", "seal@se.test", "rsa"),
                                  ("own", "gateway@own.test", "rsa"),
                                  ("partner", "partner@partner.test", "rsa"),
                                  ("ext", "sender@ext.test", "rsa")):
            _issue(d, name, email, algo, log)
        with open(os.path.join(d, "pw"), "w") as f:
            f.write("pw\n")
        ctl = [sealctl, "-c", conf, "cert"]
        _run(ctl + ["init"], d, log)
        _run(ctl + ["import", "ca.crt", "--ca"], d, log)
        for name, dom in (("seal-ec", "ec.test"), ("seal-rsa", "rsa.test"),
                          ("seal-se", "se.test"), ("own", "own.test")):
            _run(ctl + ["import", f"{name}.p12", "--password-file", "pw", "--gateway", dom],
                 d, log)
        _run(ctl + ["import", "partner.crt"], d, log)


def inbound(d, size, out):
    """An inbound message of about size bytes to x@own.test: signed by ext
    (multipart/signed), then encrypted to own (AES-128-CBC), LF line ends."""
    body = os.path.join(d, "in-body.txt")
    with open(body, "w") as f:
        f.write("Content-Type: text/plain\n\n")
        n = 0
        while n < size * 0.55:	# base64 and the CMS structures add the rest
            line = "Invoice line: 1 x widget, 42.00 EUR, thank you for your order.\n"
            f.write(line)
            n += len(line)
    with open(os.path.join(d, "pki.log"), "ab") as log:
        _run(["openssl", "smime", "-sign", "-in", body, "-signer", "ext.crt", "-inkey",
              "ext.key", "-out", "in-signed.eml"], d, log)
        _run(["openssl", "smime", "-encrypt", "-aes128", "-in", "in-signed.eml", "-from",
              "sender@ext.test", "-to", "x@own.test", "-subject", "invoice", "-out", out,
              "own.crt"], d, log)
    with open(out, "rb") as f:
        data = f.read().replace(b"\r\n", b"\n")
    with open(out, "wb") as f:
        f.write(data)
