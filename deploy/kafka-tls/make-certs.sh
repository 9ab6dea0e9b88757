#!/usr/bin/env bash
# The certificates of the brokers' partner listener (SASL_SSL): a CA of the Kreis's own, and one broker certificate
# for the names partners connect to, in a PKCS#12 keystore the brokers read from the mounted directory.
#
#   KIM_KAFKA_TLS_KEYSTORE_PASSWORD=... deploy/kafka-tls/make-certs.sh <directory> <name>[,<name>...]
#
# <name>: the host name (or IP address) in KIM_KAFKA_PARTNER_HOST, as partners reach it. Writes into <directory>:
#   ca.pem      the CA certificate: on every partner's onboarding sheet (kim partner onboard --partner-ca-file)
#   ca.key      the CA's key: made once and reused by later runs; keep it offline, not on the broker host
#   broker.p12  the brokers' keystore (key and certificate chain; KIM_KAFKA_TLS_KEYSTORE_PASSWORD)
# Run it again (with the same CA) to renew the broker certificate before it expires (KIM_KAFKA_TLS_DAYS, 825
# days); partners keep their ca.pem. With a certificate from the county's own CA instead, put its PKCS#12 keystore
# there as broker.p12 and hand out that CA's certificate. deploy/README.md, "TLS for partners".
set -euo pipefail

dir="${1:?usage: make-certs.sh <directory> <name>[,<name>...]}"
names="${2:?usage: make-certs.sh <directory> <name>[,<name>...]}"
: "${KIM_KAFKA_TLS_KEYSTORE_PASSWORD:?KIM_KAFKA_TLS_KEYSTORE_PASSWORD is not set (the password of the keystore, as in .env)}"
days="${KIM_KAFKA_TLS_DAYS:-825}"
mkdir -p "$dir"
cd "$dir"
umask 077

if [[ ! -f ca.key ]]; then
  openssl req -x509 -newkey rsa:3072 -sha256 -nodes -days 3650 -subj "/CN=KIM Hub partner CA" \
    -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" \
    -keyout ca.key -out ca.pem 2>/dev/null
fi

san=""
IFS=',' read -ra entries <<<"$names"
for name in "${entries[@]}"; do
  if [[ "$name" =~ ^[0-9.]+$ || "$name" == *:* ]]; then san+="IP:$name,"; else san+="DNS:$name,"; fi
done
openssl req -newkey rsa:3072 -sha256 -nodes -subj "/CN=${entries[0]}" -keyout broker.key -out broker.csr 2>/dev/null
san="${san%,}"
printf 'subjectAltName=%s\nextendedKeyUsage=serverAuth\nkeyUsage=critical,digitalSignature,keyEncipherment\n' \
  "$san" >broker.ext
openssl x509 -req -in broker.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days "$days" -sha256 -out broker.pem \
  -extfile broker.ext 2>/dev/null
openssl pkcs12 -export -in broker.pem -inkey broker.key -certfile ca.pem -name broker \
  -passout env:KIM_KAFKA_TLS_KEYSTORE_PASSWORD -out broker.p12
rm -f broker.csr broker.key broker.ext ca.srl
# the broker runs as another user than ops: the keystore is protected by its password, the CA certificate is public
chmod 644 broker.p12 ca.pem broker.pem
echo "make-certs: $dir/broker.p12 for $san; give partners $dir/ca.pem" >&2
