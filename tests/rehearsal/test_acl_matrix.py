"""The ACLs deploy/kafka-init/kafka-init.sh sets, as the broker enforces them (StandardAuthorizer, deny by default),
seen by each SCRAM user with a real client (tests/rehearsal/acl.py says how a probe reads and writes):

- a partner user reads its own topic in a group of its own prefix, and is refused on another partner's topic, on
  every other topic, on any group outside its prefix, and may not write its own topic;
- a service user writes its own topic, its dead-letter topic and the anchors; reads the four service topics and
  its own dead-letter topic in groups kim-<service>-*; is refused another service's topic (write), another
  service's dead-letter topic (read), another service's groups and the partner topics (read); only kim-referrals
  writes partner topics.

Partners connect on the EXTERNAL listener, services on CLIENT, as in compose. At the end the module prints every
outcome it saw (the closing note of issue 21 lists them).
"""

from __future__ import annotations

import pytest

from tests.rehearsal import acl
from tests.rehearsal.topology import LATE_PARTNER, PARTNERS, SERVICES, Rehearsal, partner_passwords

P1, P2 = PARTNERS
SERVICE_TOPICS = [f"kim.{s}" for s in SERVICES]
DLQ_TOPICS = [f"kim.dlq.{s}" for s in SERVICES]
ANCHORS = "kim.audit.anchors"
ALLOWED = "allowed"
REFUSED_TOPIC = "refused (TopicAuthorizationFailedError)"
REFUSED_GROUP = "refused (GroupAuthorizationFailedError)"


@pytest.fixture(scope="module", autouse=True)
def _print_what_was_seen(pytestconfig):
    acl.SEEN.clear()
    yield
    lines = [f"ACL {user:28} {action:48} {resource:33} {outcome}" for user, action, resource, outcome in acl.SEEN]
    with pytestconfig.pluginmanager.getplugin("capturemanager").global_and_fixture_disabled():
        print("\nACL outcomes seen by the rehearsal:\n" + "\n".join(lines), flush=True)


def partner(r: Rehearsal, org: str) -> tuple[str, str]:
    return f"partner-{org}", partner_passwords(r.env)[org]


def service(r: Rehearsal, name: str) -> tuple[str, str]:
    return f"kim-{name}", r.env[f"KIM_{name.upper()}_KAFKA_PASSWORD"]


# --- partners -------------------------------------------------------------------------------------------------
PARTNER_READS = [
    (P1, f"kim.partner.{P1}", f"partner.{P1}.reader", ALLOWED),
    (P2, f"kim.partner.{P2}", f"partner.{P2}.reader", ALLOWED),
    (P1, f"kim.partner.{P2}", f"partner.{P1}.reader", REFUSED_TOPIC),
    (P2, f"kim.partner.{P1}", f"partner.{P2}.reader", REFUSED_TOPIC),
    (P1, f"kim.partner.{LATE_PARTNER}", f"partner.{P1}.reader", REFUSED_TOPIC),
    *[(P1, t, f"partner.{P1}.reader", REFUSED_TOPIC) for t in (*SERVICE_TOPICS, *DLQ_TOPICS, ANCHORS)],
    (P1, f"kim.partner.{P1}", f"partner.{P2}.reader", REFUSED_GROUP),
    (P1, f"kim.partner.{P1}", "kim-cases-reader", REFUSED_GROUP),
    (P1, f"kim.partner.{P1}", f"{P1}.reader", REFUSED_GROUP),
]


@pytest.mark.parametrize(("org", "topic", "group", "expected"), PARTNER_READS,
                         ids=[f"{o}-reads-{t}-in-{g}" for o, t, g, _ in PARTNER_READS])
async def test_partner_reads(rehearsal, org, topic, group, expected):
    outcome, _ = await acl.read(rehearsal.external_bootstrap, *partner(rehearsal, org), topic, group)
    assert outcome == expected


@pytest.mark.parametrize("topic", [f"kim.partner.{P1}", "kim.cases"])
async def test_a_partner_writes_nothing(rehearsal, topic):
    assert await acl.write(rehearsal.external_bootstrap, *partner(rehearsal, P1), topic) == REFUSED_TOPIC


# --- services -------------------------------------------------------------------------------------------------
SERVICE_WRITES = [(s, f"kim.{t}", ALLOWED if s == t else REFUSED_TOPIC) for s in SERVICES for t in SERVICES]
SERVICE_WRITES += [(s, f"kim.dlq.{s}", ALLOWED) for s in SERVICES]
SERVICE_WRITES += [(s, ANCHORS, ALLOWED) for s in SERVICES]
SERVICE_WRITES += [(s, f"kim.partner.{P1}", ALLOWED if s == "referrals" else REFUSED_TOPIC) for s in SERVICES]
SERVICE_WRITES += [("cases", "kim.dlq.staffing", REFUSED_TOPIC)]


@pytest.mark.parametrize(("name", "topic", "expected"), SERVICE_WRITES,
                         ids=[f"kim-{s}-writes-{t}" for s, t, _ in SERVICE_WRITES])
async def test_service_writes(rehearsal, name, topic, expected):
    assert await acl.write(rehearsal.bootstrap, *service(rehearsal, name), topic) == expected


def _other(name: str) -> str:
    return SERVICES[(SERVICES.index(name) + 1) % len(SERVICES)]


SERVICE_READS = [(s, t, f"kim-{s}-rehearsal", ALLOWED) for s in SERVICES for t in (*SERVICE_TOPICS, f"kim.dlq.{s}")]
SERVICE_READS += [(s, f"kim.dlq.{_other(s)}", f"kim-{s}-rehearsal", REFUSED_TOPIC) for s in SERVICES]
SERVICE_READS += [(s, f"kim.partner.{P1}", f"kim-{s}-rehearsal", REFUSED_TOPIC) for s in SERVICES]
SERVICE_READS += [(s, f"kim.{s}", f"kim-{_other(s)}-rehearsal", REFUSED_GROUP) for s in SERVICES]
SERVICE_READS += [("cases", "kim.cases", f"partner.{P1}.reader", REFUSED_GROUP)]


@pytest.mark.parametrize(("name", "topic", "group", "expected"), SERVICE_READS,
                         ids=[f"kim-{s}-reads-{t}-in-{g}" for s, t, g, _ in SERVICE_READS])
async def test_service_reads(rehearsal, name, topic, group, expected):
    outcome, _ = await acl.read(rehearsal.bootstrap, *service(rehearsal, name), topic, group)
    assert outcome == expected


async def test_a_wrong_password_is_refused_at_login(rehearsal):
    from aiokafka.errors import AuthenticationFailedError, KafkaConnectionError, SaslAuthenticationFailed

    with pytest.raises((AuthenticationFailedError, SaslAuthenticationFailed, KafkaConnectionError)):
        await acl.read(rehearsal.bootstrap, "kim-cases", "not-the-password-0123", "kim.cases", "kim-cases-x",
                       timeout_s=10)
