"""The local Slack stand-in: a Web API that records what the bot posts, and the console."""
