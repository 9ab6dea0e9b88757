"""The CloudEvents source of the events this service publishes (kim.reporting); their metadata comes from the
command's context (kim_runtime.commands.CommandContext)."""

from __future__ import annotations

SOURCE = "/kim/reporting"
