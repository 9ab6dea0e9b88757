"""KIM Hub reporting."""
