"""``python -m greentls`` is the ``greentls`` command."""
from ._cli import main

if __name__ == "__main__":
    raise SystemExit(main())
