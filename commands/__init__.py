"""Slack listeners, one module per user-facing verb. They parse, call bot.*, and render.

The listeners arrive with the Slack issue; until then the same bot.* functions serve the CLI.
"""
