"""Allow `python -m tsncli`."""

from tsncli.cli import main

if __name__ == "__main__":
    main()
