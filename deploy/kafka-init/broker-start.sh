#!/usr/bin/env bash
# Start command of the compose `kafka` service (official apache/kafka image), replacing the image's own start-up
# in one respect: the admin SCRAM credential exists before the broker accepts its first client.
#
# In KRaft, SCRAM credentials live in the metadata log, and the first one can only be written when the log dir is
# formatted (`kafka-storage format --add-scram`); the image formats without it. So this script
#   1. renders server.properties from the KAFKA_* variables with the image's own wrapper, aimed at a scratch log dir
#      (the wrapper formats whatever log dir it is given, and that format must not be the real one),
#   2. formats the real log dir, seeding the admin user: a no-op on every later start (--ignore-formatted),
#   3. writes the admin client settings the health check uses, and starts the broker.
set -euo pipefail

: "${CLUSTER_ID:?CLUSTER_ID is not set: set KIM_KAFKA_CLUSTER_ID in .env (deploy/README.md says how)}"
[[ "$CLUSTER_ID" =~ ^[A-Za-z0-9_-]{22}$ ]] ||
  { echo "KIM_KAFKA_CLUSTER_ID must be 22 characters of A-Z a-z 0-9 _ - (deploy/README.md says how to make one)" >&2; exit 1; }
: "${KAFKA_LOG_DIRS:?KAFKA_LOG_DIRS is not set}"
: "${KIM_KAFKA_ADMIN_USER:?KIM_KAFKA_ADMIN_USER is not set: see .env.example}"
: "${KIM_KAFKA_ADMIN_PASSWORD:?KIM_KAFKA_ADMIN_PASSWORD is not set: see .env.example}"
kafka_home="${KAFKA_HOME:-/opt/kafka}"
config_dir="${KIM_KAFKA_CONFIG_DIR:-$kafka_home/config}"
scratch="$(mktemp -d)"

echo "kim: rendering $config_dir/server.properties from the KAFKA_* variables"
# KAFKA_HEAP_OPTS and KAFKA_HOME are not broker properties: keep them away from the wrapper (it turns every
# KAFKA_* variable into one).
if ! out="$(env -u KAFKA_HEAP_OPTS -u KAFKA_HOME KAFKA_LOG_DIRS="$scratch" "$kafka_home/bin/kafka-run-class.sh" \
  kafka.docker.KafkaDockerWrapper setup --default-configs-dir /etc/kafka/docker \
  --mounted-configs-dir /mnt/shared/config --final-configs-dir "$config_dir" 2>&1)"; then
  echo "$out" >&2
  exit 1
fi
rm -rf "$scratch"
sed -i "s|^log.dirs=.*|log.dirs=$KAFKA_LOG_DIRS|" "$config_dir/server.properties"

echo "kim: formatting $KAFKA_LOG_DIRS with the admin SCRAM user (skipped when already formatted)"
"$kafka_home/bin/kafka-storage.sh" format --ignore-formatted --cluster-id "$CLUSTER_ID" \
  --config "$config_dir/server.properties" \
  --add-scram "SCRAM-SHA-512=[name=$KIM_KAFKA_ADMIN_USER,password=$KIM_KAFKA_ADMIN_PASSWORD]"

umask 077
cat >/tmp/kim-admin.properties <<EOF
security.protocol=SASL_PLAINTEXT
sasl.mechanism=SCRAM-SHA-512
sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required username="$KIM_KAFKA_ADMIN_USER" password="$KIM_KAFKA_ADMIN_PASSWORD";
EOF

exec "$kafka_home/bin/kafka-server-start.sh" "$config_dir/server.properties"
