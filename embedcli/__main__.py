"""``python -m embedcli``: see ``embedcli.cli.main`` (signal handlers come first)."""

from embedcli.cli import main

if __name__ == "__main__":
    main()
