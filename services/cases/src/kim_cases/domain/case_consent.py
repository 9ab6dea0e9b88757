"""Consent commands of a case: grant (recipients × purposes × categories) and withdraw (all, one recipient, one
category). Withdrawal stays possible after closure and after the client's erasure: it must be as easy as granting."""

from __future__ import annotations

from datetime import date, datetime

from kim_runtime.errors import NotFound, RuleViolation
from kim_schemas import cases as ev
from kim_schemas.base import Event
from kim_schemas.case_codes import WithdrawalScope
from kim_schemas.codes import DataCategory

SPECIAL_CATEGORIES = {DataCategory.HEALTH}


class ConsentCommands:
    def grant_consent(self, *, consent_id: str, recipients: list[str], purposes: list, data_categories: list,
                      special_categories: bool, form, informed_in: str, granted_on: date, valid_until: date | None,
                      recorded_by: str) -> list[Event]:
        self._active("record a consent")
        self._not_before_opening(granted_on, "granted_on")
        if valid_until is not None and valid_until < granted_on:
            raise RuleViolation(f"valid_until ({valid_until}) cannot be before granted_on ({granted_on})")
        special = SPECIAL_CATEGORIES & set(data_categories)
        if special and not special_categories:
            names = ", ".join(sorted(c.value for c in special))
            raise RuleViolation(f"{names} is a special category of personal data (Art. 9 GDPR): the consent must "
                                "say special_categories = true")
        if consent_id in self.consents:
            raise RuleViolation(f"consent {consent_id} exists already")
        return [ev.ConsentGranted(
            case_id=self.case_id, consent_id=consent_id, recipients=list(dict.fromkeys(recipients)),
            purposes=list(dict.fromkeys(purposes)), data_categories=list(dict.fromkeys(data_categories)),
            special_categories=special_categories, form=form, informed_in=informed_in, granted_on=granted_on,
            valid_until=valid_until, recorded_by=recorded_by)]

    def withdraw_consent(self, *, consent_id: str, scope: WithdrawalScope, recipient: str | None,
                         data_category: DataCategory | None, effective_at: datetime) -> list[Event]:
        consent = self.consents.get(consent_id)
        if consent is None:
            raise NotFound(f"case {self.case_id} has no consent {consent_id}")
        if consent.withdrawn_at is not None:
            raise RuleViolation(f"consent {consent_id} was withdrawn already at {consent.withdrawn_at.isoformat()}")
        if scope is WithdrawalScope.ONE_RECIPIENT and recipient not in consent.recipients:
            raise RuleViolation(f"consent {consent_id} does not cover recipient {recipient} (any more); it covers: "
                                f"{', '.join(consent.recipients)}")
        if scope is WithdrawalScope.ONE_CATEGORY and data_category not in consent.data_categories:
            raise RuleViolation(f"consent {consent_id} does not cover data category {data_category} (any more); it "
                                f"covers: {', '.join(consent.data_categories)}")
        return [ev.ConsentWithdrawn(
            case_id=self.case_id, consent_id=consent_id, scope=scope,
            recipient=recipient if scope is WithdrawalScope.ONE_RECIPIENT else None,
            data_category=data_category if scope is WithdrawalScope.ONE_CATEGORY else None,
            effective_at=effective_at)]

    def expire_consent(self, consent_id: str, at: datetime) -> list[Event]:
        """The scheduler's call at the start of the day after valid_until: nothing if the consent is gone already
        (withdrawn, expired, unknown) or has no end."""
        consent = self.consents.get(consent_id)
        if consent is None or consent.withdrawn_at is not None or consent.expired_at is not None:
            return []
        if consent.granted.valid_until is None:
            return []
        return [ev.ConsentExpired(case_id=self.case_id, consent_id=consent_id,
                                  valid_until=consent.granted.valid_until, expired_at=at)]
