#!/bin/sh
# armroot: pacman 7 sandboxes its downloads with Landlock (and from 7.1 seccomp), which QEMU
# user-mode cannot provide; this session's `pacman` runs the root's own with them turned
# off. The env's /etc/pacman.conf is not changed. A keyring package's install script may
# start a gpg-agent (pacman-key --populate): it is stopped here, before the session's end
# would kill it and leave its sockets. See docs/architecture.md (pacman 7).
/usr/bin/pacman --disable-sandbox "$@"
status=$?
home=/etc/pacman.d/gnupg
if [ -S "$home/S.gpg-agent" ]; then
  command -v gpgconf >/dev/null && gpgconf --homedir "$home" --kill all
  rm -f "$home"/S.gpg-agent*
fi
exit $status
