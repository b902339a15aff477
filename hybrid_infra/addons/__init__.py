"""Cluster add-ons: each takes the Kubernetes provider and comes after the readiness gate."""
