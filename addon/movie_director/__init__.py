"""Movie Director Connect: find, connect to and watch local AI generation backends.

The core is importable anywhere (no `bpy`); Blender's layer lives in `movie_director.blender`.
"""

__version__ = "0.1.0"
