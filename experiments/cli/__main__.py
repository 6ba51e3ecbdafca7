"""``python -m experiments.cli``: the same as the ``offerlab`` command."""

from experiments.cli import main

if __name__ == "__main__":
    main()
