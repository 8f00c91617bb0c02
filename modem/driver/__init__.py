"""The unit's side of the serial line: AT channel, SIMCom 2G command set, power key, port opening."""
