from movie_director.cli import main

raise SystemExit(main())
