"""The CloudEvents source and the service's own actor; the metadata of every event comes from the command's
context (kim_runtime.commands.CommandContext: `ctx.wrap(event, source=SOURCE, ...)`)."""

from __future__ import annotations

SOURCE = "/kim/referrals"
SERVICE_ACTOR = "kim-referrals"
