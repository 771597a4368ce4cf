"""Acquisition against real HTTP servers: resume, withdrawal, cache limits, refusals."""

from __future__ import annotations

import hashlib
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from gateway.store import Decision, ImageState
from tests.unit.gateway.intake.conftest import ImageSite, Intake


def _publish(site: ImageSite, bundle: Path, name: str = "q4.iso") -> tuple[str, str]:
    shutil.copy(bundle, site.directory / name)
    return site.url(name), hashlib.sha256(bundle.read_bytes()).hexdigest()


def _raise(intake: Intake, uri: str, sha: str, *, bundle_id: str = "test-bundle",
           manifest_uri: str | None = None) -> None:
    outcome = intake.service.raise_alert(source="acme", image_uri=uri, image_sha256=sha,
                                         bundle_id=bundle_id, release="test",
                                         manifest_uri=manifest_uri)
    assert outcome.decision == Decision.ACCEPTED, outcome.reason


def _drain(intake: Intake) -> None:
    while intake.worker.run_once():
        pass


@pytest.fixture
def published(image_site: ImageSite, make_intake: Callable[..., Intake],
              bundle_factory: Callable[..., Path]) -> tuple[Intake, str, str]:
    """A bundle on the image site and an intake that trusts the site: (intake, uri, sha)."""
    uri, sha = _publish(image_site, bundle_factory())
    return make_intake(image_site.base_url + "/fw/"), uri, sha


def test_dropped_download_resumes_with_range(image_site: ImageSite, make_intake: Callable[
        ..., Intake], bundle_factory: Callable[..., Path]) -> None:
    bundle = bundle_factory()
    uri, sha = _publish(image_site, bundle)
    intake = make_intake(image_site.base_url + "/fw/")
    _raise(intake, uri, sha)
    image_site.cut_next = 1

    assert intake.worker.run_once()
    image = intake.store.get_image(sha)
    assert image.state == ImageState.PENDING and "truncated" in image.reason
    half = bundle.stat().st_size // 2
    assert intake.cache.partial_size(sha) == half
    assert intake.cache.verified_path(sha) is None

    _drain(intake)
    assert intake.store.get_image(sha).state == ImageState.VERIFIED
    assert image_site.log[-1] == (f"bytes={half}-", 206)
    verified = intake.cache.verified_path(sha)
    assert verified is not None and verified.read_bytes() == bundle.read_bytes()


def test_changed_file_restarts_instead_of_mixing_bytes(
        image_site: ImageSite, make_intake: Callable[..., Intake],
        bundle_factory: Callable[..., Path]) -> None:
    first = bundle_factory(name="first.iso")
    uri, sha = _publish(image_site, first)
    intake = make_intake(image_site.base_url + "/fw/")
    _raise(intake, uri, sha)
    image_site.cut_next = 1
    intake.worker.run_once()
    # The publisher replaces the file: If-Range no longer matches, so a 200 restarts.
    (image_site.directory / "q4.iso").write_bytes(first.read_bytes()[:-1] + b"\x01")
    _drain(intake)
    image = intake.store.get_image(sha)
    assert image.state == ImageState.REJECTED and "not the announced" in image.reason
    assert image_site.log[-1][1] == 200
    assert intake.cache.verified_path(sha) is None


def test_manifest_is_learned_from_the_remote_iso_and_kept_with_the_alert(
        image_site: ImageSite, published: tuple[Intake, str, str]) -> None:
    intake, uri, sha = published
    _raise(intake, uri, sha)
    _drain(intake)
    alert = intake.store.list_alerts(1)[0]
    assert alert.learned_manifest is not None and '"bios-1.5.0"' in alert.learned_manifest
    assert any(r is not None and r.startswith("bytes=") for r, _ in image_site.log)


def test_bundle_id_mismatch_is_rejected(published: tuple[Intake, str, str]) -> None:
    intake, uri, sha = published
    _raise(intake, uri, sha, bundle_id="some-other-bundle")
    _drain(intake)
    image = intake.store.get_image(sha)
    assert image.state == ImageState.REJECTED and "does not match" in image.reason


def test_redirects_are_not_followed(
        image_site: ImageSite, published: tuple[Intake, str, str]) -> None:
    intake, uri, sha = published
    _raise(intake, uri, sha)
    image_site.redirect = True
    _drain(intake)
    image = intake.store.get_image(sha)
    assert image.state in (ImageState.REJECTED, ImageState.FAILED, ImageState.PENDING)
    assert "redirect" in image.reason
    assert intake.cache.verified_path(sha) is None


def test_withdrawal_stops_acquisition_and_keeps_nothing(
        image_site: ImageSite, published: tuple[Intake, str, str]) -> None:
    intake, uri, sha = published
    _raise(intake, uri, sha)
    image_site.cut_next = 1
    intake.worker.run_once()  # half downloaded
    outcome = intake.service.withdraw_image(source="acme", bundle_id="test-bundle",
                                            image_sha256=sha)
    assert outcome.decision == Decision.WITHDRAWN
    _drain(intake)
    assert intake.store.get_image(sha).state == ImageState.WITHDRAWN
    assert intake.cache.verified_path(sha) is None


def test_full_cache_of_referenced_images_waits_instead_of_evicting(
        image_site: ImageSite, make_intake: Callable[..., Intake],
        bundle_factory: Callable[..., Path]) -> None:
    first = bundle_factory(name="a.iso")
    spec = bundle_factory.default_spec()  # type: ignore[attr-defined]
    spec["bundle_id"] = "second-bundle"
    second = bundle_factory(spec, name="b.iso")
    size = first.stat().st_size
    intake = make_intake(image_site.base_url + "/fw/", cache_max=str(size + size // 2))
    uri_a, sha_a = _publish(image_site, first, "a.iso")
    uri_b, sha_b = _publish(image_site, second, "b.iso")
    _raise(intake, uri_a, sha_a)
    _drain(intake)
    intake.store.add_image_reference(sha_a, "campaign:1")
    _raise(intake, uri_b, sha_b, bundle_id="second-bundle")
    intake.worker.run_once()
    image_b = intake.store.get_image(sha_b)
    assert image_b.state == ImageState.PENDING and "cache limit" in image_b.reason
    assert intake.cache.verified_path(sha_a) is not None

    intake.store.remove_image_reference(sha_a, "campaign:1")  # campaign finished
    _drain(intake)
    assert intake.store.get_image(sha_b).state == ImageState.VERIFIED
    assert intake.cache.verified_path(sha_a) is None  # evicted, least recently used


def test_image_of_a_source_removed_from_config_is_rejected(
        image_site: ImageSite, published: tuple[Intake, str, str]) -> None:
    intake, uri, sha = published
    _raise(intake, uri, sha)
    intake.worker.config = intake.config.__class__(**{**intake.config.__dict__,
                                                      "sources": ()})
    _drain(intake)
    image = intake.store.get_image(sha)
    assert image.state == ImageState.REJECTED and "no longer configured" in image.reason
    assert image_site.log == []
