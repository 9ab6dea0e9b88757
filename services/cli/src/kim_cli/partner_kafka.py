"""A partner organisation's access to the Kreis's broker, set through the Kafka Admin API as the admin SCRAM user:
its SCRAM-SHA-512 user (AlterUserScramCredentials), its ACLs (exactly those of deploy/kafka-init/kafka-init.sh:
Read + Describe on kim.partner.<org>, Read on consumer groups partner.<org>.*; any other ACL of the user is
deleted) and its compacted topic. Names come from kim_runtime.topics, as in schemas/PARTNERS.md.

aiokafka's admin client has no call for SCRAM credentials or ACLs; the requests are sent with its protocol classes
(CreateAcls, DescribeAcls, DeleteAcls) and AlterUserScramCredentials v0 (KIP-554) defined below. The client
computes the salted password (RFC 5802: PBKDF2-HMAC-SHA-512), as kafka-configs.sh does; the password itself never
goes to the broker.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from typing import TypeAlias

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.protocol.admin import CreateAclsRequest, DeleteAclsRequest, DescribeAclsRequest
from aiokafka.protocol.api import Request, RequestStruct, Response
from aiokafka.protocol.types import CompactArray, CompactBytes, CompactString, Int8, Int16, Int32, Schema, TaggedFields
from kim_runtime.topics import PARTITIONS, partner_group_prefix, partner_kafka_user, partner_topic, topic_configs

MECHANISM = "SCRAM-SHA-512"
SCRAM_SHA_512 = 2  # the mechanism's number in AlterUserScramCredentials
ITERATIONS = 8192  # as kafka-init.sh
# ACL wire codes (org.apache.kafka.common.acl / resource)
ANY, TOPIC, GROUP = 1, 2, 3
LITERAL, PREFIXED = 3, 4
READ, DESCRIBE = 3, 8
ALLOW = 3


def scram(user: str, password: str, *, security_protocol: str = "SASL_PLAINTEXT", ssl_context=None) -> dict:
    """aiokafka client options for a SCRAM-SHA-512 user (the services, the admin, a partner)."""
    options = {"security_protocol": security_protocol, "sasl_mechanism": MECHANISM, "sasl_plain_username": user,
               "sasl_plain_password": password}
    if ssl_context is not None:
        options["ssl_context"] = ssl_context
    return options


def new_password() -> str:
    """A password kafka-init.sh would accept too (A-Z a-z 0-9 _ . ~ -, at least 12)."""
    return secrets.token_urlsafe(24)


def salted_password(password: str, salt: bytes, iterations: int = ITERATIONS) -> bytes:
    """RFC 5802 Hi(): what the broker stores for SCRAM-SHA-512 (with the salt and the iterations)."""
    return hashlib.pbkdf2_hmac("sha512", password.encode(), salt, iterations)


@dataclass(frozen=True)
class Acl:
    resource_type: int
    resource_name: str
    pattern_type: int
    operation: int


def partner_acls(organisation_id: str) -> frozenset[Acl]:
    """What a partner's user may do: read (and describe) its own topic, use consumer groups with its prefix."""
    topic, groups = partner_topic(organisation_id), partner_group_prefix(organisation_id)
    return frozenset({Acl(TOPIC, topic, LITERAL, READ), Acl(TOPIC, topic, LITERAL, DESCRIBE),
                      Acl(GROUP, groups, PREFIXED, READ)})


# --- AlterUserScramCredentials v0 (API key 51, flexible) ----------------------------------------------------------
class AlterUserScramCredentialsResponse_v0(Response):
    API_KEY = 51
    API_VERSION = 0
    SCHEMA = Schema(
        ("throttle_time_ms", Int32),
        ("results", CompactArray(("user", CompactString("utf-8")), ("error_code", Int16),
                                 ("error_message", CompactString("utf-8")), ("tags", TaggedFields))),
        ("tags", TaggedFields),
    )


class AlterUserScramCredentialsRequest_v0(RequestStruct):
    FLEXIBLE_VERSION = True
    API_KEY = 51
    API_VERSION = 0
    RESPONSE_TYPE = AlterUserScramCredentialsResponse_v0
    SCHEMA = Schema(
        ("deletions", CompactArray(("name", CompactString("utf-8")), ("mechanism", Int8), ("tags", TaggedFields))),
        ("upsertions", CompactArray(("name", CompactString("utf-8")), ("mechanism", Int8), ("iterations", Int32),
                                    ("salt", CompactBytes), ("salted_password", CompactBytes),
                                    ("tags", TaggedFields))),
        ("tags", TaggedFields),
    )


AlterUserScramCredentialsRequestStruct: TypeAlias = AlterUserScramCredentialsRequest_v0


class AlterUserScramCredentialsRequest(Request[AlterUserScramCredentialsRequestStruct]):
    API_KEY = 51

    def __init__(self, user: str, password: str, iterations: int = ITERATIONS):
        self._salt = secrets.token_bytes(32)
        self._upsertion = (user, SCRAM_SHA_512, iterations, self._salt,
                           salted_password(password, self._salt, iterations), {})

    def build(self, request_struct_class: type[AlterUserScramCredentialsRequestStruct]):
        return request_struct_class([], [self._upsertion], {})


class PartnerKafkaError(RuntimeError):
    """The broker refused a step (the message names it and the broker's error)."""


class PartnerKafka:
    """The admin's connection to the broker for one onboarding or rotation."""

    def __init__(self, bootstrap: str, admin_user: str, admin_password: str, **options):
        self.admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=30_000,
                                         **scram(admin_user, admin_password), **options)

    async def __aenter__(self) -> PartnerKafka:
        await self.admin.start()
        return self

    async def __aexit__(self, *exc) -> None:
        await self.admin.close()

    async def _send(self, request: Request) -> Response:
        return await self.admin._send_request(request)  # noqa: SLF001 - the admin client has no public call for it

    async def set_password(self, user: str, password: str) -> None:
        response = await self._send(AlterUserScramCredentialsRequest(user, password))
        for name, code, message, _ in response.results:
            if code:
                raise PartnerKafkaError(f"setting the SCRAM credential of {name} failed: error {code} {message}")

    async def acls_of(self, user: str) -> set[Acl]:
        response = await self._send(DescribeAclsRequest(ANY, None, ANY, f"User:{user}", None, ANY, ANY))
        if response.error_code:
            raise PartnerKafkaError(f"listing the ACLs of {user} failed: error {response.error_code} "
                                    f"{response.error_message}")
        return {Acl(rtype, name, pattern, op) for rtype, name, pattern, acls in response.resources
                for _principal, _host, op, permission in acls if permission == ALLOW}

    async def set_acls(self, user: str, wanted: frozenset[Acl]) -> tuple[set[Acl], set[Acl]]:
        """Make the user's ACLs exactly `wanted`: returns (added, removed)."""
        have = await self.acls_of(user)
        added, removed = set(wanted) - have, have - set(wanted)
        for acl in sorted(added, key=repr):
            response = await self._send(CreateAclsRequest(acl.resource_type, acl.resource_name, acl.pattern_type,
                                                          f"User:{user}", "*", acl.operation, ALLOW))
            for code, message in response.creation_responses:
                if code:
                    raise PartnerKafkaError(f"adding ACL {acl} for {user} failed: error {code} {message}")
        for acl in sorted(removed, key=repr):
            response = await self._send(DeleteAclsRequest(acl.resource_type, acl.resource_name, acl.pattern_type,
                                                          f"User:{user}", "*", acl.operation, ALLOW))
            for code, message, _matches in response.filter_responses:
                if code:
                    raise PartnerKafkaError(f"removing ACL {acl} of {user} failed: error {code} {message}")
        return added, removed

    async def ensure_topic(self, topic: str, replication: int = 1) -> bool:
        """Create the partner's topic (compacted, as kafka-init.sh and the referrals service make it) if missing."""
        if topic in await self.admin.list_topics():
            return False
        await self.admin.create_topics([NewTopic(topic, PARTITIONS["partner"], replication,
                                                 topic_configs=topic_configs(topic))])
        return True

    async def grant_partner(self, organisation_id: str, password: str, *, replication: int = 1) -> dict:
        """The partner's topic, SCRAM user (a new password) and ACLs; what changed, for the operator."""
        user = partner_kafka_user(organisation_id)
        created = await self.ensure_topic(partner_topic(organisation_id), replication)
        await self.set_password(user, password)
        added, removed = await self.set_acls(user, partner_acls(organisation_id))
        return {"user": user, "topic_created": created, "acls_added": len(added), "acls_removed": len(removed)}
