"""The virtual modem: an emulated SIMCom SIM800-class modem with a scriptable network.

Independent of `modem.driver` on purpose (DESIGN.md §1): the two ends of the wire must not share a
response parser. The sans-IO core is `Interpreter`; `VirtualModem` binds it to a loop and a stream.
"""

from modem.control_client import ControlClient, ControlError
from modem.emulator.faults import FAULT_KINDS
from modem.emulator.gnss import CallablePosition, Fix, FixedPosition, RoutePosition
from modem.emulator.interpreter import Interpreter
from modem.emulator.modem import VirtualModem
from modem.emulator.network import SentSms, SmsCentre, VirtualNetwork
from modem.emulator.timing import INSTANT, REALISTIC, Timing
from modem.emulator.weather import WEATHER_PROFILES, Weather

__all__ = [
    "CallablePosition",
    "ControlClient",
    "ControlError",
    "FAULT_KINDS",
    "INSTANT",
    "REALISTIC",
    "WEATHER_PROFILES",
    "Fix",
    "FixedPosition",
    "Interpreter",
    "RoutePosition",
    "SentSms",
    "SmsCentre",
    "Timing",
    "VirtualModem",
    "VirtualNetwork",
    "Weather",
]
