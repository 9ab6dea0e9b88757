"""Service-layer tests of the referrals command handlers (application.commands.ReferralCommands) on the in-memory
store (kim_runtime.memory): no database, no Kafka. Each command runs as its route runs it: the consent gate's tables
and the read model of partners and referrals are the handlers' ports (`gate`, `tables`), given here as `Gate` and
`Tables`, holding what the SQL adapters would hold. What is tested is the handler: the refusals (unknown case,
erased client, closed case, unknown partner, no covering consent, and the refusal's recorded decision), the
appends (the referral's stream with the gate's decision first, the partner's stream routed to its own topic, the
link stream unpublished), the expected version, the partner's view of its own referral only, and follow-ups.
(Unlike the tables, `Gate` and `Tables` do not roll back with a failed transaction: the tests assert on events.)"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, timedelta

import pytest
from kim_runtime.commands import CommandContext
from kim_runtime.errors import ConcurrencyConflict, Gone, NotFound, RuleViolation
from kim_runtime.contract import default_contract, validate
from kim_runtime.envelope import Envelope
from kim_runtime.memory import InMemoryEventStore
from kim_runtime.projection import ProjectionHandler
from kim_schemas import cases as cev
from kim_schemas.case_codes import WithdrawalScope
from kim_runtime.topics import partner_topic, service_topic
from kim_schemas.codes import OutcomeCode, PartnerKind, RevocationReason
from kim_schemas.referrals import DeclineReason, PartnerCredentialIssued, PartnerRegistered

from kim_referrals.adapters import gate_sql, referral_sql
from kim_referrals.adapters.partner_stream import link_stream
from kim_referrals.application.cases_events import ConsentGate
from kim_referrals.adapters.referral_keys import InMemoryPartnerKeys, derived_kek, open_snapshot
from kim_schemas import parse
from kim_referrals.application import refusals
from kim_referrals.application.commands import ReferralCommands, RequestReferral
from kim_cases.domain.consent_gate import Consent, choose_consent
from kim_referrals.domain.consent import ConsentMissing, GateAnswer, Withdrawals
from kim_referrals.domain.partner_view import ClientFacts

NOW = datetime(2025, 3, 3, 9, 30, tzinfo=UTC)
JOBCENTER, ABH = "jobcenter-unna", "abh-kreis-unna"
CASE, CLIENT, LUENEN = "case-1", "client-1", "05978024"
CTX = CommandContext(actor="staff-1", correlation_id="corr-1", causation_id="cmd-1", municipality=LUENEN)
PARTNER_CTX = CommandContext(actor="partner-jc", correlation_id="corr-2", causation_id="cmd-2")
TOPIC = service_topic("referrals")


class Tables:
    """referral_sql's port: partners and the referrals' read model, as rows."""

    def __init__(self):
        self.partners: dict[str, dict] = {}
        self.referrals: dict[str, dict] = {}

    async def partner(self, conn, organisation_id):
        return self.partners.get(organisation_id)

    async def add_partner(self, conn, p):
        self.partners[p.organisation_id] = {"organisation_id": p.organisation_id, "name": p.name}

    async def add_referral(self, conn, r, *, pseudonym, requested_at, version, partner):
        self.referrals[r.referral_id] = {
            "referral_id": r.referral_id, "case_id": r.case_id, "to_organisation_id": r.to_organisation_id,
            "consent_id": r.consent_id, "client_pseudonym": pseudonym, "revocation_reason": None}
        await self.update_referral(conn, r, version, partner)

    async def update_referral(self, conn, r, version, partner):
        self.referrals[r.referral_id] |= {
            "state": r.state.value, "version": version, "partner_referral_id": partner.referral_id,
            "partner_version": partner.version,
            "revocation_reason": r.revocation_reason.value if r.revocation_reason else None}

    async def referral(self, conn, referral_id):
        return self.referrals.get(referral_id)

    async def referral_of_partner(self, conn, organisation_id, partner_referral_id):
        return next((r for r in self.referrals.values() if r["partner_referral_id"] == partner_referral_id
                     and r["to_organisation_id"] == organisation_id), None)


class Gate:
    """gate_sql's port: the cases, clients and consents the gate knows from kim.cases."""

    def __init__(self):
        self.cases: dict[str, dict] = {}
        self.erased: dict[str, datetime] = {}
        self.consents: list[Consent] = []  # the cases service's ledger (it decides: CasesStandIn)
        self.withdrawals: dict[str, Withdrawals] = {}  # what kim.cases told the referrals service

    def open_case(self, case_id=CASE, client_id=CLIENT, **fields):
        self.cases[case_id] = {"case_id": case_id, "client_id": client_id, "municipality": LUENEN,
                               "team_organisation_id": "stadt-luenen", "closed_on": None,
                               "residence_status": "aufenthaltserlaubnis", "rechtskreis": "sgb2"} | fields

    async def hold_live(self, conn):
        return None

    async def lock_case(self, conn, case_id):
        return self.cases.get(case_id)

    async def case(self, conn, case_id):
        return self.cases.get(case_id)

    async def client_erased_at(self, conn, client_id):
        return self.erased.get(client_id)

    async def lock_consent(self, conn, consent_id, case_id, *, exclusive):
        return self.withdrawals.get(consent_id, Withdrawals())

    async def client_facts(self, conn, case):
        return ClientFacts(case["residence_status"], case["rechtskreis"], ())

    async def municipality_of(self, conn, case_id):
        case = self.cases.get(case_id)
        return case["municipality"] if case else None


class CasesStandIn:
    """The cases service's consent decision (adapters/cases_client.py's port), on the gate's ledger with the cases
    service's own rules (kim_cases.domain.consent_gate)."""

    def __init__(self, gate: Gate):
        self.gate = gate

    async def consent_decision(self, *, case_id, recipient, purpose, categories, on, consent_id, correlation_id):
        chosen, reasons = choose_consent([c for c in self.gate.consents if c.case_id == case_id], case_id=case_id,
                                         recipient=recipient, purpose=purpose, categories=categories, today=on,
                                         consent_id=consent_id)
        return GateAnswer(not reasons, reasons, chosen.granted() if chosen else None)


CONSENT = Consent("k-1", CASE, frozenset({JOBCENTER}), frozenset({"arbeitsmarktintegration"}),
                  frozenset({"arbeit_qualifikation", "aufenthalt"}), granted_on=date(2025, 1, 10),
                  valid_until=date(2026, 1, 9))
REQUEST = RequestReferral(case_id=CASE, to_organisation_id=JOBCENTER, purpose="arbeitsmarktintegration",
                          data_categories=["arbeit_qualifikation"], due_on=date(2025, 3, 31))


@pytest.fixture
def store():
    return InMemoryEventStore(TOPIC)


@pytest.fixture
def gate():
    g = Gate()
    g.open_case()
    g.consents.append(CONSENT)
    return g


@pytest.fixture
def tables():
    return Tables()


@pytest.fixture
def commands(store, gate, tables):
    return ReferralCommands(store, pseudonym_secret="unit-test-pseudonym-secret", clock=lambda: NOW,
                            tables=tables, gate=gate, cases=CasesStandIn(gate),
                            partner_keys=InMemoryPartnerKeys(derived_kek("unit-test-pseudonym-secret")))


async def registered(commands, *organisations):
    for org in organisations:
        await commands.register_partner(PartnerRegistered(organisation_id=org, name=f"Partner {org}",
                                                          kind=PartnerKind.JOBCENTER, public_body=True), CTX)


def types(envelopes) -> list[str]:
    return [e.type.rsplit(".", 1)[1] for e in envelopes]


# -- partners ------------------------------------------------------------------------------------------------------
async def test_a_partner_is_registered_once(commands, store, tables):
    await registered(commands, JOBCENTER)
    assert types(await store.read_stream(JOBCENTER)) == ["PartnerRegistered"]
    assert JOBCENTER in tables.partners
    with pytest.raises(RuleViolation, match="already registered"):
        await registered(commands, JOBCENTER)
    assert await store.stream_version(JOBCENTER) == 1


async def test_a_credential_is_issued_only_to_a_registered_partner(commands, store):
    issued = PartnerCredentialIssued(organisation_id=JOBCENTER, credential_id="cred-1", issued_at=NOW,
                                     expires_at=NOW + timedelta(days=365))
    with pytest.raises(NotFound, match="no partner jobcenter-unna is registered"):
        await commands.issue_partner_credential(issued, CTX)
    await registered(commands, JOBCENTER)
    await commands.issue_partner_credential(issued, CTX)
    await commands.issue_partner_credential(issued.model_copy(update={"credential_id": "cred-2"}), CTX)
    assert types(await store.read_stream(JOBCENTER)) == [
        "PartnerRegistered", "PartnerCredentialIssued", "PartnerCredentialIssued"]


# -- requesting a referral -----------------------------------------------------------------------------------------
async def test_a_covered_request_appends_the_decision_and_the_request_and_tells_the_partner(
        commands, store, tables):
    await registered(commands, JOBCENTER)
    referral_id, version = await commands.request(REQUEST, CTX)
    stream = await store.read_stream(referral_id)
    assert (version, types(stream)) == (2, ["ConsentChecked", "ReferralRequested"])
    assert stream[0].data["met"] is True and stream[0].data["consent_id"] == "k-1"
    assert {(e.subject, e.municipality, e.causation_id) for e in stream} == {(CLIENT, LUENEN, "cmd-1")}
    row = tables.referrals[referral_id]
    assert (row["state"], row["version"], row["partner_version"]) == ("requested", 2, 1)
    partner_stream = await store.read_stream(row["partner_referral_id"])
    assert types(partner_stream) == ["PartnerReferralSealedSnapshot"]
    offer = partner_stream[0]
    # no ce_subject: the pseudonym is only inside the sealed snapshot
    assert offer.actor == "kim-referrals" and offer.subject is None
    assert set(offer.data) == {"referral_id", "version", "sealed"} and row["client_pseudonym"] not in str(offer.data)
    opened = await opened_snapshots(commands, store, row["partner_referral_id"])
    assert opened[0]["client_pseudonym"] == row["client_pseudonym"] != CLIENT
    assert referral_id not in str(offer.data) + str(opened)  # the partner never learns the internal id
    link = await store.read_stream(link_stream(row["partner_referral_id"]))
    assert link[0].data["referral_id"] == referral_id
    routes = {e.position: e.topic for e in store.outbox}
    by_stream = {r.envelope.stream_id: r.position async for r in store.read_all()}
    assert routes[by_stream[referral_id]] == TOPIC
    assert routes[by_stream[row["partner_referral_id"]]] == partner_topic(JOBCENTER)
    assert by_stream[link[0].stream_id] not in routes  # the link stays in the service


@pytest.mark.parametrize(("change", "refusal", "message"), [
    (lambda g: g.cases.clear(), NotFound, "not known to the referrals service"),
    (lambda g: g.erased.__setitem__(CLIENT, NOW), refusals.ErasedClient, "was erased on 2025-03-03"),
    (lambda g: g.cases[CASE].__setitem__("closed_on", date(2025, 2, 1)), RuleViolation, "closed on 2025-02-01"),
])
async def test_a_case_that_takes_no_referral_is_refused_before_anything_is_written(
        commands, store, gate, change, refusal, message):
    await registered(commands, JOBCENTER)
    change(gate)
    with pytest.raises(refusal, match=message):
        await commands.request(REQUEST, CTX)
    assert [r.envelope.type async for r in store.read_all()] == ["kim.referrals.PartnerRegistered"]


async def test_an_unregistered_partner_is_refused(commands, store):
    with pytest.raises(NotFound, match="partner organisation jobcenter-unna is not registered"):
        await commands.request(REQUEST, CTX)
    assert [r async for r in store.read_all()] == []


async def test_a_request_no_consent_covers_is_refused_and_the_refusal_is_recorded(commands, store, tables):
    await registered(commands, ABH)
    with pytest.raises(ConsentMissing) as refused:
        await commands.request(replace(REQUEST, to_organisation_id=ABH), CTX)
    assert any(ABH in gap for gap in refused.value.missing)
    recorded = [r.envelope async for r in store.read_all()][1:]
    assert types(recorded) == ["ConsentChecked"]
    checked = recorded[0]
    assert checked.stream_id.startswith("consent-check-") and checked.data["met"] is False
    assert (checked.data["reasons"], checked.subject, checked.municipality) == (refused.value.missing, CLIENT, LUENEN)
    assert tables.referrals == {}


async def opened_snapshots(commands, store, partner_referral_id: str) -> list[dict]:
    """The partner stream's sealed snapshots, opened with the referral's key as the partner would."""
    key = (await commands.partner_keys.of(None, [partner_referral_id]))[partner_referral_id]
    return [open_snapshot(parse(e.type, e.schema_version, e.data), key).model_dump(mode="json")
            for e in await store.read_stream(partner_referral_id) if e.type.endswith("SealedSnapshot")]


# -- deciding on a referral ------------------------------------------------------------------------------------------
async def requested(commands) -> tuple[str, str]:
    await registered(commands, JOBCENTER, ABH)
    referral_id, _ = await commands.request(REQUEST, CTX)
    return referral_id, commands.tables.referrals[referral_id]["partner_referral_id"]


async def test_the_case_side_decides_at_the_version_it_saw(commands, store, tables):
    referral_id, _ = await requested(commands)
    with pytest.raises(ConcurrencyConflict):
        await commands.decide(referral_id, lambda r, now: r.revoke(RevocationReason.OTHER, now), CTX,
                              expected_version=1)
    version = await commands.decide(referral_id, lambda r, now: r.revoke(RevocationReason.OTHER, now), CTX,
                                    expected_version=2)
    assert version == 3 and tables.referrals[referral_id]["state"] == "revoked"
    assert types(await store.read_stream(referral_id))[-1] == "ReferralRevoked"
    with pytest.raises(NotFound):
        await commands.decide("no-such-referral", lambda r, now: r.accept(now), CTX, expected_version=None)


async def test_a_partner_acts_on_its_own_referral_by_its_own_id_and_version(commands, store, tables):
    referral_id, partner_id = await requested(commands)
    with pytest.raises(NotFound):  # another partner's referral answers like an unknown one
        await commands.decide_as_partner(ABH, partner_id, lambda r, now: r.accept(now), PARTNER_CTX,
                                         expected_version=None)
    with pytest.raises(ConcurrencyConflict) as stale:
        await commands.decide_as_partner(JOBCENTER, partner_id, lambda r, now: r.accept(now), PARTNER_CTX,
                                         expected_version=2)
    assert stale.value.stream_id == partner_id
    assert await commands.decide_as_partner(JOBCENTER, partner_id, lambda r, now: r.accept(now), PARTNER_CTX,
                                            expected_version=1) == 2
    await commands.decide_as_partner(JOBCENTER, partner_id, lambda r, now: r.schedule(date(2025, 3, 20), now),
                                     PARTNER_CTX, expected_version=None)
    await commands.decide_as_partner(
        JOBCENTER, partner_id, lambda r, now: r.report_outcome(OutcomeCode.MEASURE_STARTED, now), PARTNER_CTX,
        expected_version=None)
    assert types(await store.read_stream(referral_id))[2:] == [
        "ReferralAccepted", "AppointmentScheduled", "ReferralOutcomeReported"]
    snapshots = await opened_snapshots(commands, store, partner_id)
    assert [e["state"] for e in snapshots] == [
        "requested", "accepted", "appointment_scheduled", "outcome_reported"]
    assert tables.referrals[referral_id]["partner_version"] == 4
    with pytest.raises(RuleViolation, match="cannot decline this referral"):
        await commands.decide_as_partner(JOBCENTER, partner_id, lambda r, now: r.decline(
            DeclineReason.NO_CAPACITY, now), PARTNER_CTX, expected_version=None)


async def test_a_revoked_referral_is_gone_for_its_partner(commands):
    referral_id, partner_id = await requested(commands)
    await commands.decide(referral_id, lambda r, now: r.revoke(RevocationReason.CONSENT_WITHDRAWN, now), CTX,
                          expected_version=None)
    with pytest.raises(Gone) as gone:
        await commands.decide_as_partner(JOBCENTER, partner_id, lambda r, now: r.accept(now), PARTNER_CTX,
                                         expected_version=None)
    assert gone.value.reason == RevocationReason.CONSENT_WITHDRAWN.value and gone.value.extra["purge"] is True


async def test_a_revocation_destroys_the_referrals_key_so_its_sealed_snapshots_open_for_no_one(commands, store):
    referral_id, partner_id = await requested(commands)
    await commands.decide_as_partner(JOBCENTER, partner_id, lambda r, now: r.accept(now), PARTNER_CTX,
                                     expected_version=None)
    key = (await commands.partner_keys.of(None, [partner_id]))[partner_id]
    assert len(await opened_snapshots(commands, store, partner_id)) == 2
    await commands.decide(referral_id, lambda r, now: r.revoke(RevocationReason.CONSENT_WITHDRAWN, now), CTX,
                          expected_version=None)
    assert await commands.partner_keys.of(None, [partner_id]) == {}  # deleted with the revocation
    stream = await store.read_stream(partner_id)
    assert types(stream) == ["PartnerReferralSealedSnapshot"] * 2 + ["PartnerReferralRevoked",
                                                                      "PartnerReferralTombstone"]
    assert stream[2].data["reason"] == "einwilligung_widerrufen"  # the notice stays readable
    sealed = [parse(e.type, e.schema_version, e.data) for e in stream[:2]]
    assert [open_snapshot(s, key).state for s in sealed] == ["requested", "accepted"]  # only the destroyed key
    loaded = await commands.repo.shown(None, partner_id)
    assert loaded.snapshot is None and loaded.revoked is not None  # the service cannot open them either


# -- follow-ups -------------------------------------------------------------------------------------------------------
async def test_a_follow_up_goes_to_the_referrals_follow_up_stream_and_only_while_it_applies(commands, store):
    referral_id, partner_id = await requested(commands)
    scheduler = CommandContext(actor="kim-referrals-scheduler")
    async with store.pool.acquire() as conn, conn.transaction():
        await commands.follow_up(referral_id, lambda r: r.mark_overdue(date(2025, 3, 31)), scheduler, conn=conn)
    [overdue] = await store.read_stream(f"wv-{referral_id}")
    assert (overdue.type, overdue.subject, overdue.municipality) == ("kim.referrals.ReferralOverdue", CLIENT, LUENEN)
    assert await store.stream_version(referral_id) == 2  # the referral's version (its ETag) stays
    await commands.decide_as_partner(JOBCENTER, partner_id, lambda r, now: r.accept(now), PARTNER_CTX,
                                     expected_version=None)
    async with store.pool.acquire() as conn, conn.transaction():
        await commands.follow_up(referral_id, lambda r: r.mark_overdue(date(2025, 3, 31)), scheduler, conn=conn)
    assert await store.stream_version(f"wv-{referral_id}") == 1  # answered meanwhile: nothing more


# -- the consent gate (a process manager: kim_runtime.projection.ProcessManager) -------------------------------------
class GateRows:
    """gate_sql's writes as the consent gate's apply makes them, and referral_sql.open_referral_ids over `Tables`."""

    def __init__(self, gate: Gate, tables: Tables):
        self.gate, self.tables, self.schemas = gate, tables, set()

    async def lock_consent(self, conn, consent_id, case_id, *, exclusive, schema):
        self.schemas.add(schema)
        return self.gate.withdrawals.get(consent_id, Withdrawals())

    async def save_withdrawal(self, conn, consent_id, withdrawals, withdrawn_at, *, schema):
        self.gate.withdrawals[consent_id] = withdrawals

    async def add_consent(self, conn, consent_id, case_id, *, schema, **scope):
        self.schemas.add(schema)

    async def open_referral_ids(self, conn, *, consent_id=None, case_id=None, client_id=None):
        return [r["referral_id"] for r in self.tables.referrals.values() if r["consent_id"] == consent_id
                and r["state"] not in ("closed", "revoked")]


@pytest.fixture
def gate_rows(gate, tables, monkeypatch) -> GateRows:
    rows = GateRows(gate, tables)
    for name in ("lock_consent", "save_withdrawal", "add_consent"):
        monkeypatch.setattr(gate_sql, name, getattr(rows, name))
    monkeypatch.setattr(referral_sql, "open_referral_ids", rows.open_referral_ids)
    return rows


def withdrawn(n: int = 1) -> Envelope:
    event = cev.ConsentWithdrawn(case_id=CASE, consent_id="k-1", scope=WithdrawalScope.ALL, effective_at=NOW)
    env = Envelope.wrap(event, source="/kim/cases", actor="cm-1", correlation_id=f"corr-w{n}", causation_id=f"w{n}")
    return validate(env, default_contract())


async def test_live_a_withdrawal_revokes_the_open_referral_it_leaves_uncovered(commands, store, tables, gate_rows):
    referral_id, partner_id = await requested(commands)
    env = withdrawn()
    async with store.pool.acquire() as conn, conn.transaction():
        await ProjectionHandler(ConsentGate(commands)).handle(conn, env)
    stream = await store.read_stream(referral_id)
    assert types(stream) == ["ConsentChecked", "ReferralRequested", "ReferralRevoked"]
    assert (stream[-1].causation_id, stream[-1].correlation_id, stream[-1].actor) == (env.id, "corr-w1", "cm-1")
    assert tables.referrals[referral_id]["state"] == "revoked"
    assert types(await store.read_stream(partner_id))[-2:] == ["PartnerReferralRevoked", "PartnerReferralTombstone"]
    assert gate_rows.schemas == {'"consent_gate"'}


async def test_a_rebuild_of_the_gate_revokes_nothing(commands, store, tables, gate, gate_rows):
    referral_id, _ = await requested(commands)
    appended = len(store.outbox)
    async with store.pool.acquire() as conn, conn.transaction():
        await ConsentGate().apply_batch(conn, '"consent_gate__rebuild"', [withdrawn()])
    assert gate.withdrawals["k-1"].withdrawn  # the gate's rows have the withdrawal
    assert gate_rows.schemas == {'"consent_gate__rebuild"'}
    assert len(store.outbox) == appended and tables.referrals[referral_id]["state"] == "requested"
