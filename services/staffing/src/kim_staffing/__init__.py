"""KIM Hub staffing."""
