"""ElevenLabs' text-to-speech dialect (REST, WebSockets, voices): router, protocol, serving."""

from kokoro_server.api.elevenlabs.router import router

__all__ = ["router"]
