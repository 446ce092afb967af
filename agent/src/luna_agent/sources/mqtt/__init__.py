"""MQTT acquisition: topic patterns mapped to samples (Tasmota, Shelly Gen2, plain, generic JSON)."""

from luna_agent.sources.mqtt.client import MqttSource, MqttStats
from luna_agent.sources.mqtt.mappings import MalformedPayload, parse_message, topic_matches

__all__ = ["MalformedPayload", "MqttSource", "MqttStats", "parse_message", "topic_matches"]
