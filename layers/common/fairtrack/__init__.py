"""fairtrack: the runtime library shared by every fairtrack Lambda function (the common layer).

Domain code only: protocol adapters, the canonical hit, anonymisation, the consent policy engine,
queue envelopes and destinations. Developer and operator tooling (local stack, CLI) lives in
``fairtrack_tools`` and is never imported from here.
"""

__version__ = "0.1.0"

__all__ = ["__version__"]
