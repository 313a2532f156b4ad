"""stemqa.space."""
