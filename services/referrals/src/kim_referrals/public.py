"""The referrals service's public functions for other programs (the `kim` CLI): the partner snapshot keys' KEK for
`kim keys status | rotate --service referrals` (they re-wrap keys and open no snapshot). A program outside the
service imports these, never kim_referrals' adapters, application or domain modules
(tests/unit/runtime/test_public_api.py holds the CLI to it).
"""

from __future__ import annotations

from kim_referrals import key_admin
from kim_referrals.settings import ReferralSettings

__all__ = ["ReferralSettings", "key_admin"]
