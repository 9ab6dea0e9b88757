"""Staffing rules: grants, positions and who fills them; caseload limits. Plain classes, no I/O."""
