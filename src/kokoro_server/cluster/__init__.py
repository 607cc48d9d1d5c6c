"""``kokoro-server cluster``: the unchanged HTTP app (``create_app``) as replicas behind Ray Serve.

- ``plan.py``: replica sizing (Ray resources, the replica's ``KOKORO_*`` settings, Serve's admission
  and autoscaling options), pure data, no Ray import.
- ``asgi.py``: what wraps the app in a replica (the ``X-Kokoro-Replica`` header, Ray's cancellation
  seen as a client disconnect) and in Serve's HTTP proxy (Serve's own back-pressure answer in our
  OpenAI error shape).
- ``deployment.py``: the Serve deployment (imports ``ray``; loaded by replicas and the command).
- ``command.py``: the command itself: start or join Ray, deploy, wait, stop what it started.
"""
