from armroot.cli import entry

entry()
