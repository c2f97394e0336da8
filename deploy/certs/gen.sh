#!/bin/sh
# One-shot: a CA and a certificate for every TLS endpoint of the compose
# deployment (the three NATS nodes and KurrentDB), written to /certs once.
# Run by the cert-gen service; the private keys never leave the volume.
set -eu
cd /certs
[ -f ca.crt ] && { echo "certificates already made"; exit 0; }
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 825 \
  -subj "/CN=caseledger compose CA" -keyout ca.key -out ca.crt
for name in nats-1 nats-2 nats-3 kurrentdb; do
  openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=$name" \
    -keyout "$name.key" -out "$name.csr"
  printf 'subjectAltName=DNS:%s,DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth,clientAuth\n' "$name" > "$name.ext"
  openssl x509 -req -in "$name.csr" -CA ca.crt -CAkey ca.key -CAcreateserial -days 825 \
    -extfile "$name.ext" -out "$name.crt"
  rm "$name.csr" "$name.ext"
done
# KurrentDB reads its trusted roots from a directory.
mkdir -p ca && cp ca.crt ca/
chmod 0644 ./*.crt ca/ca.crt && chmod 0640 ./*.key && chown -R 65532:65532 . 2>/dev/null || true
echo "certificates made"
