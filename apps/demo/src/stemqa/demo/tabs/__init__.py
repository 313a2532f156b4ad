"""The four tabs of the app, one module each."""
