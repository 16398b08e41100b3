"""hunt-bot: Slack chat-ops for Microsoft Defender XDR."""
