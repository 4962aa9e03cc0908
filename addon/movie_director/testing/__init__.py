"""Test support shipped with the package: real backend stand-ins, process harness, fixtures.

Third-party plugin authors and the demo use the same pieces as our own test-suite.
"""
