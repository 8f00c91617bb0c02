"""MQTT 3.1.1 packets, sans-IO: encode every packet type, decode a byte stream into packets.

A package of its own (as `ovms_v2` is) because both ends use it: the firmware's MQTT session
(`tcu.mqtt.session`) and the simulated world's stand-in broker (`tools/mqtt_broker.py`). It is checked
against an outside implementation, Mosquitto, so sharing it hides nothing (docs/DESIGN.md §1.3).
"""
