"""Slack rendering and plumbing: Block Kit, mrkdwn escaping, ids. Knows nothing of Microsoft."""
