"""What a root filesystem is, read from its files: architectures, boards, ELF headers, the
distribution, and paths resolved inside a root (never through its links to the host)."""
