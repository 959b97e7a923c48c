"""Fault-injection helpers of the crash-consistency tests (`tests/test_crash.py`)."""
