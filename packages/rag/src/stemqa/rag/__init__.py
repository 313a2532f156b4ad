"""stemqa.rag."""
