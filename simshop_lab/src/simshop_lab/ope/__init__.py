"""Off-policy evaluation against the simulator's truth (docs/ope.md)."""
