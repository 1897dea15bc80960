"""The back office's web map at /map/: a MapLibre page over the project's own tiles and OGC items."""
