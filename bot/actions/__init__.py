"""Remediation actions: what can be done to a result's entities, and the spec an approval binds."""
