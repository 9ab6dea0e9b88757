#!/usr/bin/env bash
# Stands in for the Kafka distribution's bin/kafka-run-class.sh on a host without one (kim run's secure broker, the
# rehearsal tier; kim_cli.secure_kafka): runs the given main class
# from the Maven-resolved jars of the local stack (KIM_KAFKA_LIBS, e.g. .cache/kafka/4.1.2/libs), as the
# distribution runs it from its libs/ folder. Tuned for short-lived admin tools (fast start, small heap).
set -euo pipefail
: "${KIM_KAFKA_LIBS:?KIM_KAFKA_LIBS is not set: the folder of the Kafka jars}"
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# KIM_TOOLS_CDS_ARCHIVE: a class-data sharing archive of the tools' classes (made by the rehearsal), halving each
# JVM's start-up CPU; KIM_TOOLS_CLASS_LIST: record the classes this run loads (to make that archive)
extra=()
if [[ -n "${KIM_TOOLS_CLASS_LIST:-}" ]]; then extra+=("-XX:DumpLoadedClassList=$KIM_TOOLS_CLASS_LIST")
elif [[ -n "${KIM_TOOLS_CDS_ARCHIVE:-}" && -f "$KIM_TOOLS_CDS_ARCHIVE" ]]; then extra+=("-XX:SharedArchiveFile=$KIM_TOOLS_CDS_ARCHIVE"); fi
exec java -Xms32m -Xmx256m -XX:+UseSerialGC -XX:TieredStopAtLevel=1 -Xshare:auto -Djava.awt.headless=true \
  "${extra[@]}" "-Dlog4j2.configurationFile=$here/../config/tools-log4j2.xml" -cp "$KIM_KAFKA_LIBS/*" "$@"
