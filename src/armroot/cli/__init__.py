"""The `armroot` command line: the launcher, the verb table, parsing, rendering, exit codes."""
