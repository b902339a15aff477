"""A platform of a few tens of lines that drives the cluster, add-ons and plan through the contract alone."""
