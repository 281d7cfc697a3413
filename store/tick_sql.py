"""What one tick of samples counts as, in SQL: its active time and whom a process's share of
it is booked to. Every roll-up (GPU time, held idle, energy) builds on these fragments."""

from __future__ import annotations

UNKNOWN_USER = "unknown"
IDLE_LABEL = "<idle runner>"  # never a user name: POSIX names have no "<" or spaces


def active_sql(prefix: str = "") -> str:
    """SQL for a sample's active milliseconds; `:thr` is the utilization threshold."""
    p = prefix
    return (
        f"CASE WHEN {p}active_ms IS NOT NULL THEN min({p}active_ms, {p}tick_ms) "
        f"WHEN {p}util > :thr THEN {p}tick_ms ELSE 0 END"
    )


# Processes the idle runner started: their GPU time is harvested, not a person's.
IDLE_PROCESSES_SQL = """
SELECT pr.id FROM processes pr
JOIN idle_run_processes i ON i.pid = pr.pid AND i.started = pr.started
"""


# The idle runner's processes keep their share of a GPU like anyone's, booked to IDLE_LABEL
# and left out of people's rows: a person beside one gets only their share, as beside
# another person, so people's time plus harvested time never exceeds the GPU's own.
def user_of(p: str = "pr") -> str:
    """SQL for the user a `processes` row's time is booked to (needs the `idle` CTE)."""
    return (
        f"CASE WHEN {p}.id IN idle THEN '{IDLE_LABEL}' "
        f"ELSE coalesce({p}.user, '{UNKNOWN_USER}') END"
    )
