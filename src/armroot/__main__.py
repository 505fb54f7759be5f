from armroot.cli.launch import entry

entry()
