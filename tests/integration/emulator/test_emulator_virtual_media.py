"""VirtualMedia through sushy: insert/eject, boot override Cd Once, and the host
booting the update CD (applies every fitting package, reads only what it needs,
reboots to disk). One image URL inserted on many BMCs at once."""

from __future__ import annotations

import concurrent.futures
from typing import Any

import sushy

from emulator.audit import read_audit_log
from tests.integration.emulator.conftest import (
    http,
    make_nodes,
    sushy_client,
    versions,
    wait_until,
)

CD = "/redfish/v1/Managers/1/VirtualMedia/CD"


def _boot_update_cd(node: dict[str, str], url: str) -> None:
    client = sushy_client(node)
    manager = client.get_manager("/redfish/v1/Managers/1")
    media = manager.virtual_media.get_member(CD)
    media.insert_media(url)
    system = client.get_system("/redfish/v1/Systems/1")
    system.set_system_boot_options(sushy.BootSource.CD,
                                   enabled=sushy.BootSourceOverrideEnabled.ONCE)
    system.reset_system(sushy.ResetType.ON)


def test_insert_and_eject_media_follow_the_host_cdrom(
    cluster: Any, node: dict[str, str], small_bundle_url: Any
) -> None:
    url, _served, _path = small_bundle_url
    client = sushy_client(node)
    media = client.get_manager("/redfish/v1/Managers/1").virtual_media.get_member(CD)
    media.insert_media(url)
    media.refresh()
    assert media.inserted is True and media.image == url
    bmc = cluster.bmc(node["id"])
    assert bmc.backend.cdrom(bmc.host) == url  # the libvirt domain's CD-ROM follows
    media.eject_media()
    media.refresh()
    assert not media.inserted and media.image is None
    assert bmc.backend.cdrom(bmc.host) is None
    events = [(r["event"], r.get("image")) for r in read_audit_log(cluster.audit_log_path)]
    assert events == [("media_insert", url), ("media_eject", url)]


def test_insert_while_inserted_is_refused_with_a_redfish_error(
    cluster: Any, node: dict[str, str], small_bundle_url: Any
) -> None:
    url, _served, _path = small_bundle_url
    session = http(node)
    target = node["url"] + CD + "/Actions/VirtualMedia.InsertMedia"
    assert session.post(target, json={"Image": url}).status_code == 204
    second = session.post(target, json={"Image": url})
    assert second.status_code == 409
    assert second.json()["error"]["@Message.ExtendedInfo"][0]["MessageId"].endswith(
        "ResourceInUse")


def test_boot_override_cd_once_boots_the_update_cd_and_applies_everything(
    cluster: Any, node: dict[str, str], small_bundle_url: Any
) -> None:
    url, served, _path = small_bundle_url
    _boot_update_cd(node, url)
    wait_until(lambda: versions(node) == {"BMC": "2.0.0", "BIOS": "1.5.0", "NIC": "7.1"},
               timeout_s=30)
    system = http(node).get(node["url"] + "/redfish/v1/Systems/1").json()
    wait_until(lambda: http(node).get(node["url"] + "/redfish/v1/Systems/1").json()
               ["PowerState"] == "On")
    # Once means once: the override is gone and the next boot is from disk.
    assert system["Boot"]["BootSourceOverrideEnabled"] == "Disabled"
    records = list(read_audit_log(cluster.audit_log_path))
    flashed = [(r["component"], r["to_version"]) for r in records if r["event"] == "flash_end"]
    assert sorted(flashed) == [("BIOS", "1.5.0"), ("BMC", "2.0.0"), ("NIC", "7.1")]
    # The CD reads the manifest and each payload once: payloads plus a little
    # ISO metadata, never the image twice over.
    payloads = (2 << 20) + (2 << 20) + 3000
    assert payloads <= served.bytes_sent < payloads + (256 << 10)
    assert any(r["event"] == "reset" and r.get("reason") == "update CD finished"
               for r in records)


def test_cd_boot_skips_components_already_current(
    cluster_factory: Any, small_bundle_url: Any
) -> None:
    cluster = cluster_factory(nodes=make_nodes(1, firmware={"BMC": "2.0.0", "BIOS": "1.5.0"}))
    node = cluster.inventory[0]
    url, served, _path = small_bundle_url
    _boot_update_cd(node, url)
    wait_until(lambda: versions(node)["NIC"] == "7.1", timeout_s=20)
    flashed = [r["component"] for r in read_audit_log(cluster.audit_log_path)
               if r["event"] == "flash_start"]
    assert flashed == ["NIC"]
    assert served.bytes_sent < 1 << 20  # the two 2 MiB payloads were never read


def test_same_image_url_on_many_bmcs_at_once(
    cluster_factory: Any, small_bundle_url: Any
) -> None:
    cluster = cluster_factory(nodes=make_nodes(24, firmware={"BMC": "2.0.0", "BIOS": "1.5.0"}))
    url, _served, _path = small_bundle_url
    with concurrent.futures.ThreadPoolExecutor(max_workers=12) as pool:
        list(pool.map(lambda n: _boot_update_cd(n, url), cluster.inventory))
    for node in cluster.inventory:
        wait_until(lambda n=node: versions(n)["NIC"] == "7.1", timeout_s=60)
    inserts = [r for r in read_audit_log(cluster.audit_log_path) if r["event"] == "media_insert"]
    assert len({r["bmc"] for r in inserts}) == 24


def test_a_cd_that_is_not_an_update_bundle_just_boots(
    cluster: Any, node: dict[str, str], tmp_path: Any, http_bundle_server: Any
) -> None:
    media = tmp_path / "media"
    media.mkdir()
    (media / "installer.iso").write_bytes(b"\0" * (64 << 10))
    url = http_bundle_server(media).url("installer.iso")
    _boot_update_cd(node, url)
    wait_until(lambda: http(node).get(node["url"] + "/redfish/v1/Systems/1").json()
               ["PowerState"] == "On")
    # The host is done with the CD once resets are accepted again.
    wait_until(lambda: cluster.bmc(node["id"]).host_busy_reason is None)
    events = [r["event"] for r in read_audit_log(cluster.audit_log_path)]
    assert events == ["media_insert", "power"]
    assert versions(node) == {"BMC": "1.0.0", "BIOS": "1.0.0", "NIC": "7.0"}


def test_hundreds_of_bmcs_insert_the_same_url(
    cluster_factory: Any, small_bundle_url: Any
) -> None:
    cluster = cluster_factory(nodes=make_nodes(200))
    url, _served, _path = small_bundle_url

    def insert(node: dict[str, str]) -> int:
        response = http(node).post(node["url"] + CD + "/Actions/VirtualMedia.InsertMedia",
                                   json={"Image": url, "TransferProtocolType": "HTTP"})
        return response.status_code

    with concurrent.futures.ThreadPoolExecutor(max_workers=32) as pool:
        assert set(pool.map(insert, cluster.inventory)) == {204}
    for bmc in cluster.bmcs:
        assert bmc.backend.cdrom(bmc.host) == url
