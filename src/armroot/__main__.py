from armroot.launch import entry

entry()
