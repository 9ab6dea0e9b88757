"""KIM Hub cases."""
