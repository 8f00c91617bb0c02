"""can_bus: CAN buses (python-can), vehicle profiles (DBC + TOML), polling, recording, the virtual car.

    open_bus("slcan:/dev/pts/7", loop) -> CanPort        can_bus.memory.frame_link(loop) -> (a, b)
    load_profile("demo-ev").decoder().feed(id, data)     -> [(metric, value), ...] (changes only)
"""

from can_bus.bus import BusOpenError, BusSpecError, open_bus
from can_bus.memory import frame_link
from can_bus.port import CanPort, PortStats
from can_bus.profile import Profile, ProfileError, UnsupportedCommand, available_profiles, load_profile

__all__ = [
    "BusOpenError", "BusSpecError", "CanPort", "PortStats", "Profile", "ProfileError", "UnsupportedCommand",
    "available_profiles", "frame_link", "load_profile", "open_bus",
]
