"""The hybrid-infra Pulumi program: read the stack config, build the platform."""

from hybrid_infra.platform import program

program()
