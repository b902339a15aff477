"""Typed stack configuration, split by owner: the only place raw configuration is read and checked.

``fields`` and ``errors`` serve every section; ``cluster``, ``addons`` and ``workloads`` are the
generic sections; ``stack`` assembles them with the platform sections the registry knows.
"""

from .errors import ConfigError, validate
from .stack import NAMESPACE, StackSpec, from_pulumi_config, parse_stack_config

__all__ = ["NAMESPACE", "ConfigError", "StackSpec", "from_pulumi_config", "parse_stack_config", "validate"]
