"""Helpers of `kim replay`, `kim audit` and `kim bench replay`: connections, registry, trail, verification."""
