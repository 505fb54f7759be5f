"""Where roots come from: Debian bootstraps and root filesystem tarballs."""
