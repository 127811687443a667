"""Typed exchange formats: one model and one JSON Schema per document that passes between attest's stages and the gate."""
