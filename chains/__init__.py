"""Chain adapters and the network registry."""
