"""Artifact storage behind one small protocol, chosen by URI scheme (see schemes.py)."""
