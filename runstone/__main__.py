"""``python -m runstone`` is the ``runstone`` command."""

from runstone.cli.main import main

main()
