"""The engine: action kinds with their permissions, plans, re-entrant steps, the executor, journal and lease."""
