"""The virtual car: a small physical model that speaks CAN through a vehicle profile."""

from can_bus.car.model import CarModel, CarState
from can_bus.car.scenarios import SCENARIOS, run_scenario
from can_bus.car.virtual_car import EVENTS, VirtualCar

__all__ = ["EVENTS", "SCENARIOS", "CarModel", "CarState", "VirtualCar", "run_scenario"]
