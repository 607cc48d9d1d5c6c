"""Serving: the queue runner, the files kept for download links, voice combining, ``serve``."""
