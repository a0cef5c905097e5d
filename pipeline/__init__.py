"""Pipeline composition, options, command line and run reporting."""
