"""The ``runstone`` command."""
