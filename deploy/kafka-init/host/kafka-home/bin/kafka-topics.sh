#!/usr/bin/env bash
# bin/kafka-topics.sh of the Kafka 4.x distribution: the same tool class, from the same jars.
exec "$(dirname "${BASH_SOURCE[0]}")/kafka-run-class.sh" org.apache.kafka.tools.TopicCommand "$@"
