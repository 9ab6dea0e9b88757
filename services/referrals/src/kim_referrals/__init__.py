"""KIM Hub referrals."""
