"""The governed model registry: versions, aliases, stages, history, approvals, rollback, webhooks."""
