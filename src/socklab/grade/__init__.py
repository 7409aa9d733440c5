"""Grading: run submissions sandboxed in their own lab instance, score them, report them."""
