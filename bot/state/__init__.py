"""Redis: the connection (REDIS_URL or an embedded server), and later the state kept there."""
