"""Built-in plugin ``clinician-console.image-capture``: exam-camera stills (docs/images.md)."""
