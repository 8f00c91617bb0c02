"""Running the unit as a systemd service on a Raspberry Pi (issue 17): `tcu service install|uninstall`.

The files it installs are in `tcu.service.files`; `tcu.service.install` plans them (pure: settings in,
a list of files and commands out) and applies a plan to a root directory.
"""
