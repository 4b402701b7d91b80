"""Who is asking: the users file (accounts, groups, API keys, sessions, throttling), conversations
and feedback, and the admin commands over them."""
