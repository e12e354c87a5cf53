"""``python -m vilvik_emulator`` is the ``vilvik-emulator`` command."""

from .cli import main

if __name__ == "__main__":
    raise SystemExit(main())
