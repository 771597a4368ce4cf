"""The OCP-baseline resources behave like a BMC's, seen from a Redfish client.

Logs agree with the audit log and clear; a replaced certificate is what the
port serves; the LED, the clock, NTP and the network port can be set and
refuse bad values without changing anything; readings follow the host's
power; subscriptions' exclude filters hold back events.
"""

from __future__ import annotations

import datetime
import ipaddress
import socket
import ssl
from pathlib import Path
from typing import Any

import pytest
import requests
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from tests.integration.emulator.conftest import http, wait_until

LOG = "/redfish/v1/Managers/1/LogServices/Log"
SEL = "/redfish/v1/Systems/1/LogServices/SEL"
CHASSIS = "/redfish/v1/Chassis/1"


def _entries(session: Any, base: str, log: str) -> list[dict[str, Any]]:
    members: list[dict[str, Any]] = session.get(base + log + "/Entries").json()["Members"]
    return members


def _short_ids(entries: list[dict[str, Any]]) -> list[str]:
    return [e["MessageId"].split(".")[0] + "." + e["MessageId"].rsplit(".", 1)[1]
            for e in entries]


def test_logs_are_written_with_the_audit_log_and_clear(
    cluster: Any, node: dict[str, str], small_bundle_url: Any
) -> None:
    session, base = http(node), node["url"]
    url, _served, _path = small_bundle_url
    session.post(base + "/redfish/v1/Systems/1/Actions/ComputerSystem.Reset",
                 json={"ResetType": "On"})
    wait_until(lambda: cluster.audit.records(bmc=node["id"], event="power"))
    assert session.post(base + "/redfish/v1/Managers/1/VirtualMedia/CD/Actions/"
                        "VirtualMedia.InsertMedia", json={"Image": url}).status_code == 204
    response = session.post(base + "/redfish/v1/UpdateService/Actions/UpdateService.SimpleUpdate",
                            json={"ImageURI": url, "Targets": ["/redfish/v1/Systems/1"]})
    wait_until(lambda: session.get(base + response.headers["Location"]).status_code == 200)
    session.post(base + "/redfish/v1/Systems/1/Actions/ComputerSystem.Reset",
                 json={"ResetType": "ForceRestart"})
    wait_until(lambda: len(cluster.audit.records(bmc=node["id"], event="power")) >= 3)
    audit = cluster.audit.records(bmc=node["id"])
    entries = wait_until(lambda: len(_entries(session, base, LOG)) == len(audit)
                         and _entries(session, base, LOG))
    assert [e["Created"] for e in entries] == [r["ts"] for r in audit]
    ids = _short_ids(entries)
    assert "ResourceEvent.PropertyValueModifiedByClient" in ids  # the media change
    assert "Update.InstallingOnComponent" in ids and "Update.UpdateSuccessful" in ids
    successful = next(e for e in entries if e["MessageId"].endswith("UpdateSuccessful"))
    assert successful["Severity"] == "OK" and successful["Message"].startswith("Device '")
    one = session.get(base + entries[0]["@odata.id"]).json()
    assert one["EntryType"] == "Event" and one["Message"] == entries[0]["Message"]
    # The host reset is in the SEL too.
    sel = _short_ids(_entries(session, base, SEL))
    assert "ResourceEvent.ResourcePoweredOff" in sel and "ResourceEvent.ResourcePoweredOn" in sel
    # ClearLog with a stale LogEntriesETag is refused and clears nothing.
    stale = session.get(base + SEL + "/Entries").headers["ETag"]
    session.post(base + "/redfish/v1/Systems/1/Actions/ComputerSystem.Reset",
                 json={"ResetType": "ForceOff"})
    wait_until(lambda: session.get(base + SEL + "/Entries").headers["ETag"] != stale)
    refused = session.post(base + SEL + "/Actions/LogService.ClearLog",
                           json={"LogEntriesETag": stale})
    assert refused.status_code == 428 and _entries(session, base, SEL) != []
    # ClearLog empties that log only; later entries get new ids.
    entries = _entries(session, base, LOG)
    last_id = int(entries[-1]["Id"])
    current = session.get(base + LOG + "/Entries").headers["ETag"]
    assert session.post(base + LOG + "/Actions/LogService.ClearLog",
                        json={"LogEntriesETag": current}).status_code == 204
    assert _entries(session, base, LOG) == []
    assert _entries(session, base, SEL) != []
    session.post(base + "/redfish/v1/Managers/1/VirtualMedia/CD/Actions/VirtualMedia.EjectMedia")
    [after] = _entries(session, base, LOG)
    assert int(after["Id"]) > last_id and after["MessageArgs"] == ["Inserted", "false"]


def _served_certificate(port: int) -> x509.Certificate:
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    with socket.create_connection(("127.0.0.1", port), timeout=5) as raw, \
            context.wrap_socket(raw) as tls:
        der = tls.getpeercert(binary_form=True)
    assert der is not None
    return x509.load_der_x509_certificate(der)


def _lab_ca() -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Lab CA")])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
                   .public_key(key.public_key()).serial_number(x509.random_serial_number())
                   .not_valid_before(now - datetime.timedelta(minutes=1))
                   .not_valid_after(now + datetime.timedelta(days=30))
                   .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
                   .sign(key, hashes.SHA256()))
    return key, certificate


def _sign(csr_pem: str, issuer_key: ec.EllipticCurvePrivateKey,
          issuer: x509.Certificate | None = None) -> str:
    csr = x509.load_pem_x509_csr(csr_pem.encode())
    now = datetime.datetime.now(datetime.UTC)
    issuer_name = issuer.subject if issuer else csr.subject
    certificate = (x509.CertificateBuilder().subject_name(csr.subject).issuer_name(issuer_name)
                   .public_key(csr.public_key()).serial_number(x509.random_serial_number())
                   .not_valid_before(now - datetime.timedelta(minutes=1))
                   .not_valid_after(now + datetime.timedelta(days=30))
                   .add_extension(x509.SubjectAlternativeName(
                       [x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
                   .sign(issuer_key, hashes.SHA256()))
    return certificate.public_bytes(serialization.Encoding.PEM).decode()


def test_replace_certificate_changes_what_the_port_serves(
    cluster_factory: Any, tmp_path: Path
) -> None:
    cluster = cluster_factory(tls=True)
    node = cluster.inventory[0]
    session, base = http(node), node["url"]
    session.verify, session.trust_env = str(cluster.tls_cert_path), False
    port = int(base.rsplit(":", 1)[1])
    service = "/redfish/v1/CertificateService/Actions/CertificateService."
    cert_uri = "/redfish/v1/Managers/1/NetworkProtocol/HTTPS/Certificates/1"
    before = _served_certificate(port)
    listed = session.get(base + cert_uri).json()["CertificateString"]
    assert x509.load_pem_x509_certificate(listed.encode()) == before
    # Bad input first: nothing changes.
    garbage = session.post(base + service + "ReplaceCertificate",
                           json={"CertificateUri": {"@odata.id": cert_uri},
                                 "CertificateString": "not a certificate",
                                 "CertificateType": "PEM"})
    assert garbage.status_code == 400
    assert "CertificateString" in garbage.json()["error"]["@Message.ExtendedInfo"][0]["Message"]
    foreign = _sign(_csr_for_other_key(), ec.generate_private_key(ec.SECP256R1()))
    no_key = session.post(base + service + "ReplaceCertificate",
                          json={"CertificateUri": {"@odata.id": cert_uri},
                                "CertificateString": foreign, "CertificateType": "PEM"})
    assert no_key.status_code == 400
    assert _served_certificate(port) == before
    # GenerateCSR, sign it with a lab CA, install it.
    csr = session.post(base + service + "GenerateCSR",
                       json={"CertificateCollection": {"@odata.id": cert_uri.rsplit("/", 1)[0]},
                             "CommonName": "bmc-0000.lab", "Country": "DE"})
    assert csr.status_code == 200
    ca_key, ca_certificate = _lab_ca()
    signed = _sign(csr.json()["CSRString"], ca_key, ca_certificate)
    replaced = session.post(base + service + "ReplaceCertificate",
                            json={"CertificateUri": {"@odata.id": cert_uri},
                                  "CertificateString": signed, "CertificateType": "PEM"})
    assert replaced.status_code == 204, replaced.text
    served = _served_certificate(port)
    assert served == x509.load_pem_x509_certificate(signed.encode())
    # A client that trusts the lab CA now verifies the BMC; the old trust no longer does.
    ca_file = tmp_path / "lab-ca.pem"
    ca_file.write_bytes(ca_certificate.public_bytes(serialization.Encoding.PEM))
    with pytest.raises(requests.exceptions.SSLError):
        requests.get(base + "/redfish/v1", verify=str(cluster.tls_cert_path), timeout=10)
    fresh = http(node)
    fresh.verify, fresh.trust_env = str(ca_file), False
    assert fresh.get(base + cert_uri).json()["Subject"]["CommonName"] == "bmc-0000.lab"


def _csr_for_other_key() -> str:
    key = ec.generate_private_key(ec.SECP256R1())
    csr = x509.CertificateSigningRequestBuilder().subject_name(
        x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "other")])).sign(key, hashes.SHA256())
    return csr.public_bytes(serialization.Encoding.PEM).decode()


def _refusal(response: Any) -> tuple[int, str, list[str]]:
    info = response.json()["error"]["@Message.ExtendedInfo"][0]
    return response.status_code, info["MessageId"].rsplit(".", 1)[1], info["MessageArgs"]


@pytest.mark.parametrize(("body", "message_id", "named"), [
    ({"SerialNumber": "X", "LocationIndicatorActive": True}, "PropertyNotWritable",
     "SerialNumber"),
    ({"Blinky": True, "LocationIndicatorActive": True}, "PropertyUnknown", "Blinky"),
    ({"LocationIndicatorActive": "yes"}, "PropertyValueTypeError", "LocationIndicatorActive"),
    ({"IndicatorLED": "Purple"}, "PropertyValueNotInList", "IndicatorLED"),
])
def test_a_refused_chassis_patch_changes_nothing(
    node: dict[str, str], body: dict[str, Any], message_id: str, named: str
) -> None:
    session, base = http(node), node["url"]
    before = session.get(base + CHASSIS).json()
    status, got_id, args = _refusal(session.patch(base + CHASSIS, json=body))
    assert (status, got_id) == (400, message_id) and named in args
    after = session.get(base + CHASSIS).json()
    assert after["LocationIndicatorActive"] is False and after["IndicatorLED"] == "Off"
    assert after["SerialNumber"] == before["SerialNumber"]


def test_indicator_led_and_clock_can_be_set(node: dict[str, str]) -> None:
    session, base = http(node), node["url"]
    on = session.patch(base + CHASSIS, json={"LocationIndicatorActive": True})
    assert on.status_code == 200 and on.json()["IndicatorLED"] == "Blinking"
    off = session.patch(base + CHASSIS, json={"IndicatorLED": "Off"}).json()
    assert off["LocationIndicatorActive"] is False
    manager = "/redfish/v1/Managers/1"
    set_clock = session.patch(base + manager, json={"DateTime": "2031-02-03T04:05:06+00:00",
                                                    "DateTimeLocalOffset": "+05:30"})
    assert set_clock.status_code == 200
    now = session.get(base + manager).json()
    assert now["DateTime"].startswith("2031-02-03T09:3") and now["DateTime"].endswith("+05:30")
    assert now["DateTimeLocalOffset"] == "+05:30"
    bad = session.patch(base + manager, json={"DateTimeLocalOffset": "+5h"})
    assert _refusal(bad)[1:] == ("PropertyValueFormatError", ["+5h", "DateTimeLocalOffset"])
    assert session.get(base + manager).json()["DateTimeLocalOffset"] == "+05:30"


def test_ntp_servers_follow_array_patch_rules_and_the_address_stays(
    node: dict[str, str]
) -> None:
    session, base = http(node), node["url"]
    uri = base + "/redfish/v1/Managers/1/NetworkProtocol"
    session.patch(uri, json={"NTP": {"NTPServers": ["ntp-a", "ntp-b", "ntp-c"]}})
    kept = session.patch(uri, json={"NTP": {"NTPServers": [{}, None, "ntp-d"]}})
    assert kept.json()["NTP"]["NTPServers"] == ["ntp-a", "ntp-d"]
    eth = base + "/redfish/v1/Managers/1/EthernetInterfaces/eth0"
    moved = session.patch(eth, json={"IPv4StaticAddresses": [{"Address": "10.0.0.5"}]})
    assert _refusal(moved)[:2] == (400, "PropertyValueNotInList")
    named = session.patch(eth, json={"HostName": "rack1-bmc", "FQDN": "rack1-bmc.lab"})
    assert named.json()["HostName"] == "rack1-bmc"
    assert session.get(uri).json()["FQDN"] == "rack1-bmc.lab"
    assert session.get(eth).json()["IPv4Addresses"][0]["Address"] == "127.0.0.1"


def test_power_readings_follow_the_host(node: dict[str, str]) -> None:
    session, base = http(node), node["url"]
    system = base + "/redfish/v1/Systems/1"

    def watts() -> float:
        value: float = session.get(base + CHASSIS + "/Power").json()["PowerControl"][0][
            "PowerConsumedWatts"]
        return value

    session.post(system + "/Actions/ComputerSystem.Reset", json={"ResetType": "On"})
    wait_until(lambda: session.get(system).json()["PowerState"] == "On")
    running = watts()
    session.post(system + "/Actions/ComputerSystem.Reset", json={"ResetType": "ForceOff"})
    wait_until(lambda: session.get(system).json()["PowerState"] == "Off")
    assert watts() < running / 4  # standby power only
    metrics = session.get(base + CHASSIS + "/ThermalSubsystem/ThermalMetrics").json()
    summary = metrics["TemperatureSummaryCelsius"]
    assert 10 < summary["Intake"]["Reading"] <= summary["Exhaust"]["Reading"] < 60
    fan = session.get(base + CHASSIS + "/ThermalSubsystem/Fans/0").json()
    assert 0 < fan["SpeedPercent"]["Reading"] <= 100


def test_exclude_filters_hold_back_events(node: dict[str, str], listener: Any) -> None:
    session, base = http(node), node["url"]
    created = session.post(base + "/redfish/v1/EventService/Subscriptions",
                           json={"Destination": listener.url,
                                 "ExcludeMessageIds": ["ResourceEvent.ResourcePoweredOff"]})
    assert created.status_code == 201
    assert created.json()["ExcludeMessageIds"] == ["ResourceEvent.ResourcePoweredOff"]
    both = session.post(base + "/redfish/v1/EventService/Subscriptions",
                        json={"Destination": listener.url, "MessageIds": ["TaskStarted"],
                              "ExcludeMessageIds": ["TaskStarted"]})
    assert _refusal(both)[:2] == (400, "PropertyValueConflict")
    session.post(base + "/redfish/v1/Systems/1/Actions/ComputerSystem.Reset",
                 json={"ResetType": "ForceRestart"})
    wait_until(lambda: "ResourcePoweredOn" in listener.message_ids())
    assert "ResourcePoweredOff" not in listener.message_ids()


def test_a_subscription_patch_changes_context_and_headers_only(
    node: dict[str, str], listener: Any
) -> None:
    session, base = http(node), node["url"]
    uri = session.post(base + "/redfish/v1/EventService/Subscriptions",
                       json={"Destination": listener.url, "Context": "before"}
                       ).headers["Location"]
    moved = session.patch(base + uri, json={"Context": "after", "Destination": "http://x/"})
    assert _refusal(moved) == (400, "PropertyNotWritable", ["Destination"])
    assert session.get(base + uri).json()["Context"] == "before"  # nothing changed
    changed = session.patch(base + uri, json={"Context": "after",
                                              "HttpHeaders": [{"X-Lab": "secret"}]})
    assert changed.status_code == 200 and changed.json()["Context"] == "after"
    assert changed.json()["HttpHeaders"] == []  # write-only
    session.post(base + "/redfish/v1/Systems/1/Actions/ComputerSystem.Reset",
                 json={"ResetType": "On"})
    wait_until(lambda: listener.received)
    assert listener.received[0]["Context"] == "after"
