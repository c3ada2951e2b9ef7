"""Users, permissions and the audit trail."""
