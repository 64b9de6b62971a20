"""The `radprep` command line: thin typer commands over the library."""
