"""Local stand-ins for the services the bot talks to, speaking their real HTTP protocols."""
