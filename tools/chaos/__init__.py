"""`python -m tools.chaos`: drive the real processes through the faults of issue 12 and report per fault
alerts raised / delivered / lost / duplicated, recovery time and log lines. See `scenarios.py`."""
