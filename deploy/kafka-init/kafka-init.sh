#!/usr/bin/env bash
# kafka-init: the topics, SCRAM users and ACLs of KIM Hub. One-shot compose job; safe to run again at any time
# (it creates what is missing, (re)sets every service password and ACL from the environment, and adds the ACLs of the
# partners in KIM_PARTNERS), which is how ops rotate a service password: edit .env, then `docker compose run --rm
# kafka-init`. A partner's SCRAM user is only created when it does not exist yet: a partner rotated since (`kim
# partner rotate`) keeps its new password when this job runs again; its password in KIM_PARTNERS is its first one.
#
# Who may do what (the broker denies everything else; only the admin user is a super user):
#   kim-<service>     writes kim.<service>, kim.dlq.<service> and kim.audit.anchors; reads the four service topics
#                     and its own dead-letter topic; consumer groups kim-<service>-*. kim-referrals also writes (and
#                     creates) kim.partner.*
#   partner-<org>     reads kim.partner.<org> only; consumer groups partner.<org>.*
#
# KIM_KAFKA_INIT_DRY_RUN=1 prints the commands instead of running them (the unit tests use it).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
topics_file="${KIM_TOPICS_FILE:-$here/topics.txt}"
bin="${KAFKA_BIN:-/opt/kafka/bin}"
dry_run="${KIM_KAFKA_INIT_DRY_RUN:-0}"
bootstrap="${KIM_KAFKA_BOOTSTRAP:?KIM_KAFKA_BOOTSTRAP is not set (host:port of the broker)}"
admin_user="${KIM_KAFKA_ADMIN_USER:?KIM_KAFKA_ADMIN_USER is not set: see .env.example}"
admin_password="${KIM_KAFKA_ADMIN_PASSWORD:?KIM_KAFKA_ADMIN_PASSWORD is not set: see .env.example}"
replication="${KIM_KAFKA_REPLICATION_FACTOR:-1}"
# a write with acks=all is acknowledged once this many replicas have it: 2 of 3 with the `ha` profile
min_isr="${KIM_KAFKA_MIN_INSYNC_REPLICAS:-1}"

fail() { echo "kafka-init: $*" >&2; exit 1; }

run() {
  if [[ "$dry_run" == 1 ]]; then echo "${1##*/} ${*:2}"; else "$@"; fi
}

check_secret() {  # $1 = name for the message, $2 = value: it goes into a JAAS line and a SCRAM spec
  [[ "$2" =~ ^[A-Za-z0-9_.~-]{12,}$ ]] ||
    fail "$1 must be at least 12 characters of A-Z a-z 0-9 _ . ~ - (generate one with: openssl rand -hex 24)"
}

check_secret KIM_KAFKA_ADMIN_PASSWORD "$admin_password"
[[ "$replication" =~ ^[1-9][0-9]*$ && "$min_isr" =~ ^[1-9][0-9]*$ ]] ||
  fail "KIM_KAFKA_REPLICATION_FACTOR and KIM_KAFKA_MIN_INSYNC_REPLICAS must be whole numbers from 1"
((min_isr <= replication)) ||
  fail "KIM_KAFKA_MIN_INSYNC_REPLICAS ($min_isr) must not exceed KIM_KAFKA_REPLICATION_FACTOR ($replication): no write could be acknowledged"
command_config="$(mktemp)"
trap 'rm -f "$command_config"' EXIT
chmod 600 "$command_config"
cat >"$command_config" <<EOF
security.protocol=SASL_PLAINTEXT
sasl.mechanism=SCRAM-SHA-512
sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required username="$admin_user" password="$admin_password";
EOF
admin=(--bootstrap-server "$bootstrap" --command-config "$command_config")

# --- partner organisations: KIM_PARTNERS="org-id:password,org-id:password" -----------------------------------
declare -A partner_password=()
IFS=',' read -ra entries <<<"${KIM_PARTNERS:-}"
for entry in "${entries[@]}"; do
  entry="${entry//[[:space:]]/}"
  [[ -z "$entry" ]] && continue
  [[ "$entry" == *:* ]] || fail "KIM_PARTNERS entry '$entry' must be <organisation-id>:<password>"
  org="${entry%%:*}"
  [[ "$org" =~ ^[a-z0-9][a-z0-9-]{1,62}$ ]] ||
    fail "partner organisation id '$org' must be 2-63 characters of a-z 0-9 - (starting with a letter or digit)"
  check_secret "the password of partner $org in KIM_PARTNERS" "${entry#*:}"
  partner_password["$org"]="${entry#*:}"
done

# --- topics ---------------------------------------------------------------------------------------------------
topic_settings() {  # $1 = kind -> "<partitions> <retention.ms>"
  case "$1" in
    service) echo "${KIM_SERVICE_TOPIC_PARTITIONS:-6} -1" ;;  # the shared history: kept forever, by design
    partner) echo "${KIM_PARTNER_TOPIC_PARTITIONS:-3} ${KIM_PARTNER_TOPIC_RETENTION_MS:-2592000000}" ;;  # 30 days
    dlq) echo "${KIM_DLQ_TOPIC_PARTITIONS:-1} ${KIM_DLQ_TOPIC_RETENTION_MS:--1}" ;;
    audit) echo "1 -1" ;;  # one partition keeps each service's anchors in order; kept forever, like the history
    *) fail "$topics_file: unknown topic kind '$1' (service, partner, dlq or audit)" ;;
  esac
}

existing=""
[[ "$dry_run" == 1 ]] || existing="$("$bin/kafka-topics.sh" "${admin[@]}" --list)"
# users with a SCRAM credential: "SCRAM credential configs for user-principal 'partner-x' are SCRAM-SHA-512=..."
existing_users=""
[[ "$dry_run" == 1 ]] || existing_users="$("$bin/kafka-configs.sh" "${admin[@]}" --describe --entity-type users |
  sed -n "s/^SCRAM credential configs for user-principal '\([^']*\)'.*/\1/p")"

ensure_topic() {  # $1 = name, $2 = kind
  local partitions retention segment="" compact="" purge=""
  read -r partitions retention <<<"$(topic_settings "$2")"
  # a finite retention deletes whole segments: roll them daily so records go close to the retention
  [[ "$retention" != -1 ]] && segment=segment.ms=86400000
  # a partner topic is the current state: compacted (a revocation's tombstone removes what was shared), and deleted
  # after the retention besides (kim_runtime.topics.PARTNER_CLEANUP_POLICY); compacted within a segment whatever the
  # dirty ratio, and a tombstone kept as long as the retention, so a partner reading once per retention still purges
  # (kim_runtime.topics.topic_configs)
  [[ "$2" == partner ]] && compact="cleanup.policy=[compact,delete]" &&
    purge="max.compaction.lag.ms=${segment#segment.ms=},delete.retention.ms=$retention"
  if ! grep -qxF "$1" <<<"$existing"; then
    run "$bin/kafka-topics.sh" "${admin[@]}" --create --if-not-exists --topic "$1" --partitions "$partitions" \
      --replication-factor "$replication" ${compact:+--config "cleanup.policy=compact,delete"} \
      --config "retention.ms=$retention" ${segment:+--config "$segment"} \
      ${purge:+--config "${purge%%,*}" --config "${purge#*,}"} --config "min.insync.replicas=$min_isr"
  else  # keep retention and min.insync.replicas in step with the environment; partitions only ever grow, and
        # replicas are added, by hand (deploy/README.md, "From one broker to three")
    run "$bin/kafka-configs.sh" "${admin[@]}" --alter --entity-type topics --entity-name "$1" \
      --add-config "${compact:+$compact,}retention.ms=$retention${segment:+,$segment}${purge:+,$purge},min.insync.replicas=$min_isr"
  fi
}

services=()
audit_topics=()
while read -r name kind _; do
  [[ -z "$name" || "$name" == \#* ]] && continue
  if [[ "$kind" == partner ]]; then
    for org in "${!partner_password[@]}"; do ensure_topic "${name//\{organisationId\}/$org}" partner; done
  else
    ensure_topic "$name" "$kind"
    [[ "$kind" == service ]] && services+=("${name#kim.}")
    [[ "$kind" == audit ]] && audit_topics+=(--topic "$name")
  fi
done <"$topics_file"
[[ ${#services[@]} -gt 0 ]] || fail "$topics_file lists no service topic"

# --- users and ACLs -------------------------------------------------------------------------------------------
set_password() {  # $1 = user, $2 = password
  run "$bin/kafka-configs.sh" "${admin[@]}" --alter --entity-type users --entity-name "$1" \
    --add-config "SCRAM-SHA-512=[iterations=8192,password=$2]"
}

allow() {  # $1 = user, then kafka-acls resource and operation options
  local user="$1"; shift
  run "$bin/kafka-acls.sh" "${admin[@]}" --add --allow-principal "User:$user" "$@"
}

service_topic_args=()
for s in "${services[@]}"; do service_topic_args+=(--topic "kim.$s"); done

for s in "${services[@]}"; do
  var="KIM_${s^^}_KAFKA_PASSWORD"
  password="${!var:-}"
  [[ -n "$password" ]] || fail "$var is not set: every service needs its Kafka password (see .env.example)"
  check_secret "$var" "$password"
  user="kim-$s"
  set_password "$user" "$password"
  allow "$user" --operation Read --operation Describe "${service_topic_args[@]}" --topic "kim.dlq.$s"
  allow "$user" --operation Write --topic "kim.$s" --topic "kim.dlq.$s" "${audit_topics[@]}"
  allow "$user" --operation Read --resource-pattern-type prefixed --group "kim-$s-"
done
# The referrals service publishes what each partner may see to that partner's topic, and creates the topic of a
# partner registered later than this job ran (brokers never auto-create topics), compacted (AlterConfigs: a partner
# topic made before compaction gets it when the service starts).
allow kim-referrals --operation Write --operation Describe --operation Create --operation AlterConfigs \
  --operation DescribeConfigs --resource-pattern-type prefixed \
  --topic kim.partner.

kept=0
for org in "${!partner_password[@]}"; do
  user="partner-$org"
  if grep -qxF "$user" <<<"$existing_users"; then  # never reset a partner's password (it may have been rotated)
    echo "kafka-init: $user exists: its password is kept (kim partner rotate $org gives it a new one)" >&2
    kept=$((kept + 1))
  else
    set_password "$user" "${partner_password[$org]}"
  fi
  allow "$user" --operation Read --operation Describe --topic "kim.partner.$org"
  allow "$user" --operation Read --resource-pattern-type prefixed --group "partner.$org."
done

echo "kafka-init: ${#services[@]} services and ${#partner_password[@]} partner organisations set up" \
  "($kept existing partner users kept their passwords)" >&2
