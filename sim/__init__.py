"""The simulated world: everything that is simulation, not firmware.

- `world`: car, unit, modem, network, server and the owner's phone wired on one virtual loop.
- `direct_modem`: `DirectModem` and `Smsc`, a modem without AT commands for fast runs.
- `owner_phone`: the owner's phone and the journals that survive a kill.
- `weather`: outage windows drawn from the seed.
- `report`: delivery counted at the receiving end, and the summary people read; `live_view`: the demo's screen,
  `event_log`: what happened in words (the screen's log, and the plain log without a terminal).
- `runner`: the run in slices (paced or full speed; Ctrl-C stops between two); `progress`: the full-speed bar.
- `timeline`: what happened when (`world.timeline`); `html_report`: the run as one self-contained HTML page.
- `cli`: `tcu sim`, plugged into the firmware's command line by an entry point.

The firmware (`tcu`) never imports this package; this package imports the firmware, the emulators
(`modem.emulator`, `can_bus.car`) and the stand-in servers (`tools`).
"""
