"""Distributed compiles: distcc (plain mode) helpers running armroot's own native
compilers, and the client side of a build that sends its compiles to them."""
