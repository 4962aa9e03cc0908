"""pytest fixtures that start real backends on free loopback ports (``pytest11`` entry point).

Plugin authors get the same stand-ins our own suite uses.
"""
