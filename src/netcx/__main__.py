"""Allow `python -m netcx`."""

from netcx.entrypoints.cli import main

main()
