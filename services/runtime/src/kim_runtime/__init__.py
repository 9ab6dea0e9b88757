"""KIM Hub runtime."""
