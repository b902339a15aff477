"""Kubernetes bootstrap: pure rendering from cluster spec and platform hints to text."""
