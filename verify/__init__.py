"""The deploy gate: decides, offline, whether an artifact may be deployed.

Never imports `attest`: the gate is a smaller trust domain than the CI-side stages.
"""

__version__ = "0.1.0"
