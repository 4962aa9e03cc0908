"""Blender's layer: panels, preferences, operators and the timer that reads core snapshots.

Only this package imports ``bpy``; it never does network or disk I/O on the main thread.
"""
