"""Data files shipped with the console (style sheets, icons, default configuration)."""
