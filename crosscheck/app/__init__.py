"""Layer 9, app: the command line, its options (shared with the pytest plugin), the progress bar and
the plugin itself. The only layer that prints or reads the command line."""
