"""The texts `tcu service install` writes: the systemd unit, the sysusers entry, the systemd-networkd
`.network` for the CAN interface, and the udev rules that name the modem `/dev/tcu-modem`.

Why each setting:
- `Type=notify` + `WatchdogSec=`: the unit says READY once its modem answered and its state is open,
  and pings the watchdog only while its event loop and link supervisor run (`tcu.sd_notify`); a hung
  unit is killed and restarted by systemd (`Restart=always`), which is the only watchdog a car has.
- `TimeoutStartSec=`: the link ladder needs up to ~2 minutes (probe 20 s, power-key cycle 30 s, probe
  again) to get an answer from a modem that was hung at boot; a modem still silent after that gets a
  fresh process.
- `LoadCredential=`: /etc/tcu/tcu.toml holds passwords, so it stays 0600 root; systemd reads it and
  gives the service a private copy (`%d/tcu.toml`) that only the service's user can read.
- Its own user (`tcu`, from sysusers.d) in `dialout` (the serial ports) and `gpio` (the power key);
  `StateDirectory=tcu` (/var/lib/tcu, 0700, owned by that user) and `ConfigurationDirectory=tcu`
  (/etc/tcu). Everything else of the file system is read-only to it (`ProtectSystem=strict`).
- `ProtectHome=read-only`, not `yes`: a venv in /home/pi (the README's checkout) must stay runnable.
- No `PrivateDevices=`: the unit needs the real /dev/tcu-modem, /dev/gpiochip* and the CAN socket.
"""

from __future__ import annotations

UNIT_NAME = "tcu.service"
USER = "tcu"

SERVICE = """\
# Installed by `tcu service install`; remove with `tcu service uninstall`.
[Unit]
Description=tcu-sim telematics unit (CAN, modem, OVMS v2 link with SMS fallback)
Documentation=https://github.com/tcu-sim/tcu-sim#for-raspberry-pi-developers
# Not after the network-online target: the unit's data link is its own modem, and a car has no LAN cable, so
# waiting for one held the start back 2 minutes at every boot. networkd brings can0 up; the unit
# waits for the CAN interface itself (it reopens a missing adapter).
Wants=systemd-networkd.service
After=network.target systemd-networkd.service

[Service]
Type=notify
NotifyAccess=main
# The config (it holds passwords) stays root's, 0600; systemd hands the unit its own copy.
LoadCredential=tcu.toml:/etc/tcu/tcu.toml
ExecStart={exec_start}
Restart=always
RestartSec=5
TimeoutStartSec={timeout_start}
TimeoutStopSec=20
WatchdogSec={watchdog}
User={user}
Group={user}
SupplementaryGroups=dialout gpio
StateDirectory=tcu
StateDirectoryMode=0700
ConfigurationDirectory=tcu
ConfigurationDirectoryMode=0750
Environment=PYTHONUNBUFFERED=1
# hardening: the unit needs its serial port, GPIO, a CAN socket and its state directory, nothing else
ProtectSystem=strict
ProtectHome=read-only
PrivateTmp=yes
NoNewPrivileges=yes
ProtectKernelTunables=yes
ProtectKernelModules=yes
ProtectKernelLogs=yes
ProtectControlGroups=yes
ProtectClock=yes
ProtectHostname=yes
RestrictSUIDSGID=yes
RestrictRealtime=yes
RestrictNamespaces=yes
LockPersonality=yes
MemoryDenyWriteExecute=yes
RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6 AF_CAN AF_NETLINK
CapabilityBoundingSet=
SystemCallArchitectures=native
UMask=0077

[Install]
WantedBy=multi-user.target
"""

SYSUSERS = """\
# Installed by `tcu service install`: the unit's own user, in dialout (serial) and gpio (power key).
u {user} - "tcu-sim telematics unit" /var/lib/tcu
m {user} dialout
m {user} gpio
"""

# systemd.network(5) [CAN]: BitRate, RestartSec (automatic restart after bus-off).
CAN_NETWORK = """\
# Installed by `tcu service install`: bring {iface} up at boot with the config's bitrate.
[Match]
Name={iface}

[CAN]
BitRate={bitrate}
RestartSec=100ms
"""

# The UART HATs (SIM800/SIM7600 on the Pi's serial0) and the SIM7600's USB AT port (interface 02 of
# 1e0e:9001; 00 is diagnostics, 01 NMEA, 03 the PPP/modem port, 04 audio) get one stable name.
UDEV_RULES = """\
# Installed by `tcu service install`: the modem is /dev/tcu-modem whichever way it is connected.
# A modem HAT on the Pi's header UART: Raspberry Pi OS's 99-com.rules names it serial0 (ttyS0 or
# ttyAMA0 depending on the model and Bluetooth); this file sorts after it, so the match sees that name.
SUBSYSTEM=="tty", SYMLINK=="serial0", SYMLINK+="tcu-modem", GROUP="dialout", MODE="0660"
# SIMCom SIM7600/SIM7500 over USB (1e0e:9001): the AT port is interface 02 (60-serial.rules ran usb_id)
SUBSYSTEM=="tty", ENV{{ID_VENDOR_ID}}=="1e0e", ENV{{ID_MODEL_ID}}=="9001", ENV{{ID_USB_INTERFACE_NUM}}=="02", \\
  SYMLINK+="tcu-modem", GROUP="dialout", MODE="0660"
"""
