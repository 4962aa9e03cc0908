"""Movie Director as a Blender extension: a thin entry into the bundled ``movie_director`` wheel.

Everything lives in ``movie_director.blender`` (installed from ``wheels/`` with its
``.dist-info``, so the backend plugins' entry points are found inside Blender). The
extension's package name keys its preferences (``bl_ext.<repository>.movie_director``).
"""


def register() -> None:
    from movie_director import blender

    blender.register(__package__)


def unregister() -> None:
    from movie_director import blender

    blender.unregister()
