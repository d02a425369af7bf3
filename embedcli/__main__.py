"""``python -m embedcli``."""

from embedcli.cli import main

if __name__ == "__main__":
    main()
