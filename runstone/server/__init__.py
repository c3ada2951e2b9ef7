"""The tracking server: composition root (app.py), routes, error mapping, HTTP plumbing."""
