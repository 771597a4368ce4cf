"""What the API reads and writes through the store on a real SQLite file: tokens, the
audit log, pages and counts of alerts, image counts, and the health ping."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC
from pathlib import Path

import pytest

from gateway.store import Decision, GatewayStore, ImageState, NewAlert, NotFoundError
from gateway.store.operators import OperatorStore, TokenNameTakenError


@pytest.fixture
def store(tmp_path: Path) -> Iterator[GatewayStore]:
    opened = GatewayStore.open(f"sqlite:///{tmp_path / 'gateway.db'}")
    yield opened
    opened.close()


def _alert(decision: Decision, number: int) -> NewAlert:
    return NewAlert(channel="rest", decision=decision, reason=f"reason {number}",
                    source="acme", indication_identifier=f"id-{number}")


def test_tokens_are_unique_by_name_revoked_once_and_found_by_hash(store: GatewayStore) -> None:
    operators = OperatorStore(store.engine)
    added = operators.add_token("ci", "operator", "h" * 64, "ff_abcde")
    assert added.revoked_at is None and added.created_at.tzinfo == UTC
    with pytest.raises(TokenNameTakenError, match="'ci' already exists"):
        operators.add_token("ci", "viewer", "g" * 64, "ff_fghij")
    assert operators.token_by_hash("h" * 64) == added
    assert operators.token_by_hash("g" * 64) is None  # the refused insert left nothing
    revoked, now = operators.revoke_token("ci")
    again, now_again = operators.revoke_token("ci")
    assert now and not now_again and revoked.revoked_at == again.revoked_at is not None
    assert operators.tokens(include_revoked=False) == []
    assert [t.name for t in operators.tokens()] == ["ci"]
    with pytest.raises(NotFoundError, match="no token named 'ghost'"):
        operators.revoke_token("ghost")


def test_audit_page_is_newest_first_with_the_total(store: GatewayStore) -> None:
    operators = OperatorStore(store.engine)
    for number in range(5):
        operators.append_audit("ci", "operator", "campaign.start", f"/api/x/{number}", "ok")
    long_target = operators.append_audit("ci", "operator", "a", "t" * 300, "refused", "409")
    page, total = operators.audit_page(limit=2, offset=1)
    assert total == 6
    assert [e.target for e in page] == ["/api/x/4", "/api/x/3"]
    assert len(long_target.target) == 256


def test_alert_page_filters_by_decision_and_counts_every_decision(
        store: GatewayStore) -> None:
    decisions = [Decision.REJECTED, Decision.IGNORED, Decision.REJECTED, Decision.REJECTED]
    for number, decision in enumerate(decisions):
        store.record_alert(_alert(decision, number))
    page, total = store.alert_page(limit=2, offset=0, decision=Decision.REJECTED)
    assert total == 3
    assert [a.indication_identifier for a in page] == ["id-3", "id-2"]
    assert all(a.received_at.tzinfo == UTC for a in page)
    everything, total_all = store.alert_page(limit=10, offset=3)
    assert total_all == 4 and [a.indication_identifier for a in everything] == ["id-0"]
    assert store.count_alerts_by_decision() == {
        Decision.ACCEPTED: 0, Decision.DUPLICATE: 0, Decision.WITHDRAWN: 0,
        Decision.IGNORED: 1, Decision.REJECTED: 3}
    assert store.count_images_by_state() == dict.fromkeys(ImageState, 0)


def test_ping_says_whether_the_database_answers(tmp_path: Path) -> None:
    store = GatewayStore.open(f"sqlite:///{tmp_path / 'gateway.db'}")
    assert store.ping()
    store.close()
    # A store whose file has become a directory cannot be reached any more.
    broken = GatewayStore.open(f"sqlite:///{tmp_path / 'other.db'}")
    broken.close()
    (tmp_path / "other.db").unlink()
    (tmp_path / "other.db").mkdir()
    assert not broken.ping()
