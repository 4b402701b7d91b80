"""The docs for other tools: the OpenAI-compatible HTTP API and the MCP server, and what opens
the served index for them."""
