"""Command handlers (load, decide, append) and the caseload policy fed by the cases topic."""
