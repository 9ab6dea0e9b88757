"""The CloudEvents source of this service's events; the metadata comes from the command's context
(kim_runtime.commands.CommandContext)."""

from __future__ import annotations

SOURCE = "/kim/staffing"
SERVICE_ACTOR = "kim-staffing"
