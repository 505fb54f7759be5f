"""Private-namespace sessions: the only code in armroot that calls mount(2) or chroot(2)."""
