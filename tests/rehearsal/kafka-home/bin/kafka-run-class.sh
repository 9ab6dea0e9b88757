#!/usr/bin/env bash
# Stands in for the Kafka distribution's bin/kafka-run-class.sh in the rehearsal tier: runs the given main class
# from the Maven-resolved jars of the local stack (KIM_KAFKA_LIBS, e.g. .cache/kafka/4.1.2/libs), as the
# distribution runs it from its libs/ folder. Tuned for short-lived admin tools (fast start, small heap).
set -euo pipefail
: "${KIM_KAFKA_LIBS:?KIM_KAFKA_LIBS is not set: the folder of the Kafka jars}"
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
exec java -Xms32m -Xmx256m -XX:+UseSerialGC -XX:TieredStopAtLevel=1 -Xshare:auto -Djava.awt.headless=true \
  "-Dlog4j2.configurationFile=$here/../config/tools-log4j2.xml" -cp "$KIM_KAFKA_LIBS/*" "$@"
