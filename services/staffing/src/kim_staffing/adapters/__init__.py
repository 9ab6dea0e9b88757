"""Infrastructure of the staffing service: envelopes, SQL read models."""
