"""Fleets: many tasks (prompts) in one file, run locally or submitted to a cluster together."""

from p2m_lib.fleet.spec import DeploySettings, Fleet, FleetTask, load_fleet

__all__ = ["DeploySettings", "Fleet", "FleetTask", "load_fleet"]
