"""stemqa.train."""
