"""The plugin API, the plugin host and the built-in plugins."""
