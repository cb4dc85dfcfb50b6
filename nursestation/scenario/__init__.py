"""Scenario runner (`nursestation scenario run`): scripted sessions on a simulated clock through
the same use cases as the GUI. Step handlers live in the steps_*.py modules of this package."""

from nursestation.scenario.runner import ScenarioError, run_scenario, run_scenario_file

__all__ = ["ScenarioError", "run_scenario", "run_scenario_file"]
