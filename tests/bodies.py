"""Request bodies several tiers send the same way."""

# POST /clients/{id}/erasure: the Art. 17 ground and the request's reference are required
ERASURE = {"ground": "zweck_entfallen", "request_reference": "DSGVO-2026-0001"}
