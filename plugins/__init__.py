"""The built-in backend plugins; each registers through the ``movie_director.backends`` entry points."""
