"""Recommendations that learn: candidates, contextual bandits, the decision log, off-policy evaluation."""

__all__: list[str] = []
