"""The gateway store on a real SQLite file and a real PostgreSQL server: migrations, dedup,
leases, references, restart."""

from __future__ import annotations

import importlib
import pkgutil
import threading
from datetime import timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

import gateway.store
from gateway.store import (
    Decision,
    GatewayStore,
    ImageState,
    NewAlert,
    NotFoundError,
    StoreError,
)
from gateway.store.database import head_revision
from gateway.store.models import Base

SHA_A = "a" * 64
SHA_B = "b" * 64
LEASE = timedelta(seconds=60)


def _update(identifier: str = "id-1", sha: str = SHA_A, source: str = "acme") -> NewAlert:
    return NewAlert(channel="cim", decision=Decision.ACCEPTED, reason="", source=source,
                    indication_identifier=identifier, message_id="FWUP0001",
                    image_sha256=sha, image_uri="http://h.example/fw/a.iso",
                    bundle_id="bundle-1", release="2026.Q4")


def _withdraw(identifier: str = "w-1", sha: str = SHA_A, bundle: str = "bundle-1",
              source: str = "acme") -> NewAlert:
    return NewAlert(channel="cim", decision=Decision.ACCEPTED, reason="", source=source,
                    indication_identifier=identifier, message_id="FWUP0002",
                    image_sha256=sha, bundle_id=bundle)


@pytest.fixture
def db_url(database_url: str) -> str:
    """Every test here runs on SQLite and on a real PostgreSQL (tests/support/postgres.py)."""
    return database_url


@pytest.fixture
def store(db_url: str) -> GatewayStore:
    return GatewayStore.open(db_url)


INTAKE_TABLES = {"alerts", "indications_seen", "images", "image_references"}


def _table_of(diff: object) -> str | None:
    item = diff[-1] if isinstance(diff, tuple) else diff[0][-1]  # type: ignore[index]
    table = getattr(item, "table", item)
    return getattr(table, "name", None)


def test_migrations_create_exactly_the_model_schema(store: GatewayStore) -> None:
    # Other packages add tables to the same metadata; load every store module first.
    for module in pkgutil.iter_modules(gateway.store.__path__):
        importlib.import_module(f"gateway.store.{module.name}")
    with store.engine.connect() as connection:
        context = MigrationContext.configure(connection)
        assert context.get_current_revision() == head_revision()
        diffs = compare_metadata(context, Base.metadata)
    assert [d for d in diffs if _table_of(d) in INTAKE_TABLES] == []


def test_reopening_migrates_nothing_and_keeps_data(db_url: str, store: GatewayStore) -> None:
    store.admit_update(_update())
    store.close()
    reopened = GatewayStore.open(db_url)
    assert reopened.get_image(SHA_A).state == ImageState.PENDING
    assert [a.indication_identifier for a in reopened.list_alerts()] == ["id-1"]


def test_bad_database_url_is_a_store_error(tmp_path: Path) -> None:
    with pytest.raises(StoreError, match="cannot open database"):
        GatewayStore.open("nosuchdialect://x")


def test_first_alert_queues_the_image(store: GatewayStore) -> None:
    admission = store.admit_update(_update())
    assert admission.alert.decision == Decision.ACCEPTED and admission.starts_acquisition
    assert store.get_image(SHA_A).first_alert_id == admission.alert.id


def test_replayed_identifier_is_a_duplicate(store: GatewayStore) -> None:
    store.admit_update(_update())
    replay = store.admit_update(_update())
    assert replay.alert.decision == Decision.DUPLICATE
    assert "IndicationIdentifier" in replay.alert.reason and not replay.starts_acquisition
    assert store.count_alerts() == 2 and len(store.list_images()) == 1


def test_same_identifier_from_another_source_is_not_a_replay(store: GatewayStore) -> None:
    store.admit_update(_update())
    other = store.admit_update(_update(source="lab", sha=SHA_B))
    assert other.alert.decision == Decision.ACCEPTED


def test_known_digest_with_new_identifier_starts_nothing(store: GatewayStore) -> None:
    store.admit_update(_update())
    again = store.admit_update(_update("id-2"))
    assert again.alert.decision == Decision.DUPLICATE and not again.starts_acquisition
    assert "already known" in again.alert.reason


def test_concurrent_announcements_of_one_image_start_it_once(db_url: str) -> None:
    # Two "gateways" (separate engines) and several threads each, same database.
    stores = [GatewayStore.open(db_url), GatewayStore.open(db_url)]
    results: list[bool] = []
    lock = threading.Lock()

    def announce(index: int) -> None:
        admission = stores[index % 2].admit_update(_update(f"id-{index}"))
        with lock:
            results.append(admission.starts_acquisition)

    threads = [threading.Thread(target=announce, args=(i,)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert results.count(True) == 1 and len(results) == 8


def test_lease_is_exclusive_until_it_expires(store: GatewayStore) -> None:
    store.admit_update(_update())
    claimed = store.claim_next_image("gw-1", LEASE)
    assert claimed is not None and claimed.state == ImageState.DOWNLOADING
    assert store.claim_next_image("gw-2", LEASE) is None
    # The same owner (a restarted gateway) takes its own work back at once.
    assert store.claim_next_image("gw-1", LEASE) is not None
    # An expired lease can be taken over by another gateway.
    store.renew_lease(SHA_A, "gw-1", timedelta(seconds=-1))
    taken = store.claim_next_image("gw-2", LEASE)
    assert taken is not None and taken.lease_owner == "gw-2"
    assert not store.renew_lease(SHA_A, "gw-1", LEASE)
    assert not store.finish_image(SHA_A, "gw-1", ImageState.VERIFIED)


def test_released_image_waits_for_its_back_off(store: GatewayStore) -> None:
    store.admit_update(_update())
    store.claim_next_image("gw", LEASE)
    store.release_image(SHA_A, "gw", "connection dropped", timedelta(minutes=5))
    image = store.get_image(SHA_A)
    assert image.state == ImageState.PENDING and image.reason == "connection dropped"
    assert store.claim_next_image("gw", LEASE) is None


def test_progress_is_saved_with_the_lease(store: GatewayStore) -> None:
    store.admit_update(_update())
    store.claim_next_image("gw", LEASE)
    assert store.renew_lease(SHA_A, "gw", LEASE, size_bytes=1234, etag='"e1"')
    image = store.get_image(SHA_A)
    assert (image.size_bytes, image.etag) == (1234, '"e1"')


def test_verified_image_is_idempotent_on_new_alerts(store: GatewayStore) -> None:
    store.admit_update(_update())
    store.claim_next_image("gw", LEASE)
    assert store.finish_image(SHA_A, "gw", ImageState.VERIFIED)
    assert store.get_image(SHA_A).verified_at is not None
    again = store.admit_update(_update("id-9"))
    assert again.alert.decision == Decision.DUPLICATE and "verified" in again.alert.reason


def test_rejected_image_can_be_announced_again(store: GatewayStore) -> None:
    store.admit_update(_update())
    store.claim_next_image("gw", LEASE)
    store.finish_image(SHA_A, "gw", ImageState.REJECTED, "bad signature")
    again = store.admit_update(_update("id-2"))
    assert again.starts_acquisition and store.get_image(SHA_A).state == ImageState.PENDING


def test_withdrawal_marks_the_image_and_blocks_new_announcements(store: GatewayStore) -> None:
    store.admit_update(_update())
    store.claim_next_image("gw", LEASE)
    withdrawn = store.admit_withdrawal(_withdraw())
    assert withdrawn.alert.decision == Decision.WITHDRAWN
    assert store.get_image(SHA_A).state == ImageState.WITHDRAWN
    assert not store.renew_lease(SHA_A, "gw", LEASE)  # the downloading worker stops
    assert store.admit_withdrawal(_withdraw("w-2")).alert.decision == Decision.DUPLICATE
    later = store.admit_update(_update("id-3"))
    assert later.alert.decision == Decision.REJECTED and not later.starts_acquisition


@pytest.mark.parametrize(("alert", "reason"), [
    (_withdraw(sha=SHA_B), "not known"),
    (_withdraw(bundle="other"), "BundleID does not match"),
    (_withdraw(source="lab"), "another source"),
])
def test_bad_withdrawals_change_nothing(store: GatewayStore, alert: NewAlert,
                                        reason: str) -> None:
    store.admit_update(_update())
    result = store.admit_withdrawal(alert)
    assert result.alert.decision == Decision.REJECTED and reason in result.alert.reason
    assert store.get_image(SHA_A).state == ImageState.PENDING


def test_references_pin_images(store: GatewayStore) -> None:
    store.admit_update(_update())
    store.add_image_reference(SHA_A, "campaign:1")
    store.add_image_reference(SHA_A, "campaign:1")  # idempotent
    store.add_image_reference(SHA_A, "campaign:2")
    assert store.referenced_digests() == {SHA_A}
    store.remove_image_reference(SHA_A, "campaign:1")
    assert store.referenced_digests() == {SHA_A}
    store.remove_image_reference(SHA_A, "campaign:2")
    assert store.referenced_digests() == set()
    with pytest.raises(NotFoundError):
        store.add_image_reference(SHA_B, "campaign:3")


def test_learned_manifest_is_kept_with_the_first_alert(store: GatewayStore) -> None:
    admission = store.admit_update(_update())
    store.record_learned_manifest(SHA_A, '{"bundle_id": "bundle-1"}')
    alert = next(a for a in store.list_alerts() if a.id == admission.alert.id)
    assert alert.learned_manifest == '{"bundle_id": "bundle-1"}'


def test_times_are_aware_utc(store: GatewayStore) -> None:
    store.admit_update(_update())
    alert = store.list_alerts()[0]
    assert alert.received_at.utcoffset() == timedelta(0)
    with store.engine.connect() as connection:
        assert connection.execute(sa.text("select count(*) from alerts")).scalar() == 1


def test_untrusted_text_with_nul_characters_is_stored_on_every_backend(
        store: GatewayStore) -> None:
    # PostgreSQL text cannot hold NUL; a hostile identifier must not become a database error.
    alert = store.record_alert(NewAlert(
        channel="cim", decision=Decision.REJECTED, reason="malformed", source="acme",
        indication_identifier="id\x00-1", message_id="FW\x00UP", description="a\x00b"))
    stored = store.list_alerts()[0]
    assert stored.id == alert.id and stored.decision == Decision.REJECTED
    assert stored.indication_identifier in ("id\x00-1", "id\ufffd-1")
    assert (stored.description or "").replace("\ufffd", "\x00") == "a\x00b"


def test_every_table_matches_the_models_after_migration(store: GatewayStore) -> None:
    for module in pkgutil.iter_modules(gateway.store.__path__):
        importlib.import_module(f"gateway.store.{module.name}")
    with store.engine.connect() as connection:
        diffs = compare_metadata(MigrationContext.configure(connection), Base.metadata)
    assert diffs == []


def test_the_previous_verified_image_of_each_bundle_stays_pinned(
        store: GatewayStore) -> None:
    """A rollback needs the previous image: the verified image before the newest of a
    bundle ID is never evicted (the newest is pinned by its campaigns' references); an
    older one, or one of another state, may be."""
    digests = ["1" * 64, "2" * 64, "3" * 64]
    for index, sha in enumerate(digests):
        store.admit_update(_update(f"id-{index}", sha=sha))
        claimed = store.claim_next_image("gw", LEASE)
        assert claimed is not None and claimed.sha256 == sha
        assert store.finish_image(sha, "gw", ImageState.VERIFIED)
        assert store.referenced_digests() == set(digests[index - 1:index] if index else [])
    store.admit_update(_update("id-other", sha=SHA_B))  # pending: not pinned
    assert store.referenced_digests() == {digests[1]}
    store.add_image_reference(digests[0], "campaign:old")  # a campaign still holds it
    assert store.referenced_digests() == {digests[0], digests[1]}
