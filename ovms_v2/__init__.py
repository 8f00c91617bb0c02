"""OVMS v2 server protocol ("MP-"), sans-IO, shared by the unit, the local server and the app client.

- `crypto`: RC4, HMAC-MD5 digests, session key, base64 lines, paranoid cipher.
- `messages`: one frozen dataclass per message code (§3), command numbers (§4).
- `connection`: `ClientConnection` / `ServerConnection` (h11 style: receive_data, next_event, send).

A package of its own (as `modem.sms` is) so that the server and the app do not import the firmware;
the unit's session on top of it is `tcu.ovms.car_client`.
"""
