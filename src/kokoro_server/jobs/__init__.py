"""Book jobs: long texts (EPUB, Markdown, HTML, plain text) to chaptered audiobooks, durably.

- :mod:`.books`: one reader per input format, and their registry;
- :mod:`.plan`: a chapter's text cut into job chunks;
- :mod:`.store`: SQLite (WAL) state and the chunks' audio in ``<data dir>/jobs/``;
- :mod:`.speaker`: the one door to the speech service;
- :mod:`.worker`: runs one job (chunks, then files), :mod:`.scheduler`: the server's jobs;
- :mod:`.loudness` and :mod:`.audiobook`: levels, the M4B, chapter files and captions;
- :mod:`.service`: making a job from a file (API and CLI).
"""
