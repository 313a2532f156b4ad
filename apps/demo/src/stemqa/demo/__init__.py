"""stemqa.demo."""
