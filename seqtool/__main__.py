"""``python -m seqtool``: the same entry point as the ``seqtool`` console script."""
from seqtool.cli import main

if __name__ == "__main__":
    main()
