"""Root conftest: load the shared fixtures (real PostgreSQL, Mosquitto, Modbus server, leak guards).

Hypothesis runs without its per-example deadline: that is a timed assertion, and on a loaded
2-core machine a correct example can take longer than 200 ms. Performance lives in ``bench/``.
"""

from hypothesis import settings

pytest_plugins = ["support.plugin"]

settings.register_profile("luna", deadline=None, print_blob=True)
settings.load_profile("luna")
