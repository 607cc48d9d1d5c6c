"""Getting model files: ``kokoro-server download`` (hub client, manifest, plan) and nothing else.

Used only by explicit commands: the server itself never fetches anything.
"""
