from tests.agents.conftest import adesk, adesk_factory  # noqa: F401  (shared fixtures)
from tests.timers.test_sla import tdesk  # noqa: F401  (the SLA tests' desk, for test_subjects)
