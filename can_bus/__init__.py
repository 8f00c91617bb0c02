"""can_bus."""
