"""Serving: the pyfunc wrapper, the registry view, the HTTP endpoint and its decision log."""
