"""The simulation's seed and budget in the test report (CI prints it): a failing seed replays."""

from __future__ import annotations


def pytest_terminal_summary(terminalreporter) -> None:
    ran = getattr(terminalreporter.config, "mcp_simulation", None)  # set by the test as it starts
    if ran:
        SEED, EXAMPLES, REPORT = ran
        terminalreporter.write_line(
            f"simulation of the controller: seed {SEED} (MCP_SIMULATION_SEED={SEED} replays it), budget {EXAMPLES}: "
            f"{REPORT['examples']} examples, {REPORT['steps']} steps, {REPORT['faults']} faults absorbed, "
            f"{REPORT['crashes']} crashes, {REPORT['refusals']} refusals checked to write nothing")
