"""`python -m cli` runs the haulflow console script."""

from cli.main import main

main()
