"""MQTT 3.1.1 to the owner's own broker, laid out as OVMS v3 does it, with Home Assistant discovery.

The sans-IO codec is the `mqtt311` package (shared with the stand-in broker); `topics` the OVMS v3 topic tree, `discovery` the Home Assistant
configs and `session.MqttSession` the client session with the shape of the OVMS v2 `CarSession`.
"""
