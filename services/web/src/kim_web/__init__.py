"""KIM Hub web app."""
