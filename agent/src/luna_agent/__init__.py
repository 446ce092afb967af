"""Luna-iEMS edge agent: polls meters, validates readings, buffers them durably and forwards them to the hub.

Split by pipeline stage; data flows one way: ``sources`` -> ``validation`` -> ``buffer`` -> ``sync``,
with ``api`` serving the local status.
"""

from importlib.metadata import version

__version__ = version("luna-agent")
__all__ = ["__version__"]
