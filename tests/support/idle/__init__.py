"""Idle-runner test support: a fake backend and clock, a stand-in job and ways to watch it."""
