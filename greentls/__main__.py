"""``python -m greentls`` is the ``greentls`` command."""
from greentls._app.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
