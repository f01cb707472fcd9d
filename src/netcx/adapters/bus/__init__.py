"""Event bus adapters: a Kafka-protocol topic or Redis Streams, and the segment-log forwarder."""
