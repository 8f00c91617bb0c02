"""modem."""
