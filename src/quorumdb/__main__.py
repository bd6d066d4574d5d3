"""``python -m quorumdb`` is the ``quorumdb`` command."""

from quorumdb.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
