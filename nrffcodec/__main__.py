"""`python -m nrffcodec`: the nrff command. Guarded, as spawned worker processes import this module too."""

from .app.cli import main

if __name__ == "__main__":
    main()
