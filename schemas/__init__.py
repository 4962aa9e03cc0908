"""JSON Schema files (draft 2020-12) for the configuration, shipped as package data.

Installed as ``movie_director.schemas`` so the add-on's wheel carries them.
"""
