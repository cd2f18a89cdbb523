"""Example Clinician Console plugin (see plugin.toml). Importing this package does nothing:
the console reads plugin.toml as data and imports ``core`` only when it activates the plugin."""
