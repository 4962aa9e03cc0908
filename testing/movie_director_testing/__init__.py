"""Test support for Movie Director Connect: real backend stand-ins, process harness, fixtures.

A distribution of its own (``movie-director-testing``) so that artists' installs and the
Blender extension carry only runtime code. Third-party plugin authors, the demo and our own
test-suite use the same pieces.
"""

#: Released in step with movie-director-connect (a unit test holds the two together).
__version__ = "0.1.0"
