"""Adapters that map real, public transaction logs onto offerlab's contract frames (events, items, users)."""
