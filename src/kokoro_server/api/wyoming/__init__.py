"""The Wyoming protocol (Home Assistant's local voice pipelines): a TTS server beside HTTP."""
