"""SVG renderers: the activity calendar now, the usage charts later, all sharing one theme."""
