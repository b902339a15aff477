"""Offline: the simulated cloud, the in-process runner and the plan writers."""
