"""Test-support code shared across test packages (stand-ins for external systems)."""
