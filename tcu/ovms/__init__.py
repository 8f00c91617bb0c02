"""OVMS v2 server protocol ("MP-"), sans-IO, shared by the unit, the local server and the app client.

- `crypto`: RC4, HMAC-MD5 digests, session key, base64 lines, paranoid cipher.
- `messages`: one frozen dataclass per message code (§3), command numbers (§4).
- `connection`: `ClientConnection` / `ServerConnection` (h11 style: receive_data, next_event, send).
- `car_client`: `CarSession`, the unit's side (metrics → S/D/L/W/F/V, commands, alerts, records).
- `car_link`: `CarLink`, a CarSession over a runtime TCP stream (tests, benchmarks, fleets).
"""
