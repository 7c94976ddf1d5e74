"""The access-review use cases again on a real PostgreSQL server, with their items as rows (migration 0013):
a review opened, a partner's page, a decision, the Caf's view."""

from tests.integration.usecases_pg import use_case_engine, use_case_store  # noqa: F401 (override the unit ones)
from tests.store.test_review_items_as_rows import (  # noqa: F401 (the same tests, collected here)
    test_a_partners_page_and_a_decision_read_only_their_own_items,
)
