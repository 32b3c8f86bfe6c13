"""Code that runs on the worker node, next to the payload."""
