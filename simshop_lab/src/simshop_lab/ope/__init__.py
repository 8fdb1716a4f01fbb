"""Off-policy evaluation against the simulator's truth (DESIGN §13)."""
