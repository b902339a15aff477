"""Workloads on the platform: stateless apps in containers and legacy VMs lifted and shifted."""

from .apps import ContainerApp
from .virtual_machine import VirtualMachine

__all__ = ["ContainerApp", "VirtualMachine"]
