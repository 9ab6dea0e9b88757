"""KIM Hub runtime: the event-sourcing machinery every service imports (services/runtime/README.md).

The public API is the modules named in `__all__`: services, the CLI and the event contract import from these (any
name in them that does not start with an underscore). The modules in `INTERNAL` are the runtime's own machinery,
driven through `service.ServiceRuntime` (or `rebuild`/`replay_store` for the CLI) and imported by nothing outside
the runtime but its tests. tests/unit/runtime/test_public_api.py holds both lists to what services and the CLI
import, and every module of the package to one of the two lists.

The modules load when first imported (`from kim_runtime import store` or `import kim_runtime.store`): importing the
package itself loads nothing, so `kim --help` and the contract stay light.
"""

__all__ = [
    "anchor",        # signed anchors of the store's stream heads; checking an anchor log
    "audit_chain",   # verify every stream's hash chain
    "auth",          # Role, Principal, tokens, current_principal
    "commands",      # the write side's seedwork: CommandContext, Aggregate, Repository, UnitOfWork
    "contract",      # the event contract a consumer reads through; FixedContract, OpenData
    "crypto",        # AES-256-GCM sealing under a destroyable key, keys wrapped under a KEK (crypto-shredding)
    "db",            # pools, migrations, the service role's grants
    "dispatch",      # handlers by event class: by_type, types_of
    "envelope",      # Envelope (CloudEvents over Kafka), new_id, utcnow
    "errors",        # ConcurrencyConflict, RuleViolation, NotFound
    "http",          # create_app, etag, parse_if_match
    "idempotency",   # Idempotency-Key (wired by http.create_app and the store's append); services call forget
    "kafka",         # ensure_topics, make_broker
    "key_admin",     # `python -m kim_<service>.key_admin status | rotate`: arguments, progress, errors
    "memory",        # InMemoryEventStore and its unit of work, for unit tests
    "oidc",          # OpenID Connect sign-in
    "pagination",    # Page, paged: cursor pagination of list endpoints
    "policy",        # the one authorization policy: authorize, ensure, owner resolvers
    "problems",      # RFC 9457 problem answers
    "projection",    # Projection (read models), ProcessManager (projections that act), lag, lock_key
    "rebuild",       # rebuild a projection from Kafka
    "replay_store",  # rebuild a projection from the event stores
    "sealing",       # sealed fields: derive a client's sealing key, seal/open, Unsealer, Sealing
    "scheduler",     # deadlines: Deadline, Cancel, Due, clocks
    "secret_source",  # read a secret from a setting or a file
    "service",       # ServiceRuntime, run
    "settings",      # RuntimeSettings
    "store",         # EventStore, Recorded
    "topics",        # topic names
    "types",         # the strict input types of every API model
    "upcasting",     # register upcasting steps (the contract's)
]

INTERNAL = (
    "clean_input",   # request hygiene middleware (installed by http.create_app)
    "consumer",      # ConsumerRunner: inbox, checkpoints, retries, dead letters (run by ServiceRuntime)
    "logs",          # JSON log lines (set up by service.run)
    "observe",       # HTTP metrics and spans middleware (installed by http.create_app)
    "outbox",        # OutboxRelay (run by ServiceRuntime)
    "resilience",    # supervise, is_unavailable, RateLimitedLog
    "telemetry",     # OpenTelemetry spans (used by store, outbox, consumer, observe)
)
