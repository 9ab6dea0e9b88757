"""KIM Hub cli."""
