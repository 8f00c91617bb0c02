"""The unit's side of the OVMS v2 server protocol.

- `car_client`: `CarSession`, the unit's session (metrics → S/D/L/W/F/V, commands, alerts, records),
  one `tcu.server_session.ServerSession` behind the server seam.

The protocol codec itself (messages, connections, crypto) is the `ovms_v2` package, shared with the
local server (`tools/server`) and the app client (`tools/app`).
"""
