"""Hidden-state and attention probes. Arrive with the probes issue."""
