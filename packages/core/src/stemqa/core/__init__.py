"""stemqa.core."""
