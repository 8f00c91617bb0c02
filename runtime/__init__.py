"""The runtime every component shares: one loop interface with a real and a virtual clock.

See docs/runtime-api.md. This package imports none of `tcu`, `modem`, `can_bus`, `tools`.
"""

from runtime.loop import Listener, Loop, Timer
from runtime.pipes import PipeStream, pipe_pair
from runtime.real_loop import RealLoop
from runtime.stream import Stream
from runtime.virtual_loop import VirtualLoop

__all__ = ["Listener", "Loop", "PipeStream", "RealLoop", "Stream", "Timer", "VirtualLoop", "pipe_pair"]
