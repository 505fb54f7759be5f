"""The library API: one module per verb, each returning typed results and raising ArmrootError."""
