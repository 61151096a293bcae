from tests.agents.conftest import adesk, adesk_factory  # noqa: F401  (shared fixtures)
