from movie_director.cli import run

run()
