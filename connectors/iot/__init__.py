"""IoT connector: device telemetry over MQTT → aggregates, alerts and maintenance tickets."""
