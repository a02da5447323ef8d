"""Imported by every other module of the workspace."""
import os

CONSTANT = 42


def helper(x):
    return os.path.join(x, "y")


class Thing:
    size = 3
