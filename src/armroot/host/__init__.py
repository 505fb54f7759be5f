"""The machine armroot runs on: binfmt_misc and QEMU, the host's packages, its mounts,
privileges and user namespaces, raw system calls, and the helper that runs host programs."""
