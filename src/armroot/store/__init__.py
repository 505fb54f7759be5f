"""Environments on disk: the store's home, env names, the env lock, metadata, atomic
creation and removal that never crosses a mount."""
