"""KIM Hub event contract."""
