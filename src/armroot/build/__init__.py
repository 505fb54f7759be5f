"""Building a project for a board: armroot.toml, build-system detection, artifact checks."""
