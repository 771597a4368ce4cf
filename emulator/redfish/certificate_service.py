"""CertificateService and the BMC's HTTPS certificate (NetworkProtocol/HTTPS/Certificates/1).

GenerateCSR returns a CSR for a new key the BMC keeps; ReplaceCertificate
installs a certificate for that key (or one with its key in the same PEM
text), and new connections to the BMC's HTTPS port get it
(emulator/certificates.py).
"""

from __future__ import annotations

from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.x509.oid import NameOID
from flask import Blueprint, Response

from emulator.accounts import Privilege
from emulator.certificates import KEY_ALGORITHMS, CsrRequest
from emulator.errors import RedfishError
from emulator.redfish.common import bmc, check_action, json_response, read_json
from emulator.redfish.documents import (
    action,
    post_action,
    ref,
    refuse_unknown_actions,
    resource,
    serve_collection,
)
from emulator.redfish.network_protocol import CERTIFICATES_URI

blueprint = Blueprint("certificate_service", __name__)

SERVICE_URI = "/redfish/v1/CertificateService"
LOCATIONS_URI = f"{SERVICE_URI}/CertificateLocations"
CERTIFICATE_URI = f"{CERTIFICATES_URI}/1"
CSR_ACTION = "CertificateService.GenerateCSR"
REPLACE_ACTION = "CertificateService.ReplaceCertificate"
CSR_INFO_URI = f"{SERVICE_URI}/GenerateCSRActionInfo"
REPLACE_INFO_URI = f"{SERVICE_URI}/ReplaceCertificateActionInfo"

_CSR_PARAMETERS: dict[str, tuple[type, bool]] = {
    "CertificateCollection": (dict, True), "CommonName": (str, True),
    "Organization": (str, False), "OrganizationalUnit": (str, False), "City": (str, False),
    "State": (str, False), "Country": (str, False), "AlternativeNames": (list, False),
    "KeyPairAlgorithm": (str, False),
}
_REPLACE_PARAMETERS: dict[str, tuple[type, bool]] = {
    "CertificateUri": (dict, True), "CertificateString": (str, True),
    "CertificateType": (str, True),
}


@blueprint.get(SERVICE_URI)
def certificate_service() -> Response:
    return json_response(resource(
        SERVICE_URI, "#CertificateService.v1_2_1.CertificateService", "CertificateService",
        "Certificate Service",
        CertificateLocations=ref(LOCATIONS_URI),
        Actions={**action(SERVICE_URI, CSR_ACTION, **{"@Redfish.ActionInfo": CSR_INFO_URI}),
                 **action(SERVICE_URI, REPLACE_ACTION,
                          **{"@Redfish.ActionInfo": REPLACE_INFO_URI})},
    ))


def _action_info(uri: str, parameters: dict[str, tuple[type, bool]],
                 allowable: dict[str, list[str]]) -> dict[str, Any]:
    kinds: dict[type, str] = {str: "String", dict: "Object", list: "StringArray"}
    described = []
    for name, (kind, required) in parameters.items():
        item: dict[str, Any] = {"Name": name, "Required": required, "DataType": kinds[kind]}
        if name in allowable:
            item["AllowableValues"] = allowable[name]
        described.append(item)
    name = uri.rsplit("/", 1)[1]
    return resource(uri, "#ActionInfo.v1_5_0.ActionInfo", name, name, Parameters=described)


@blueprint.get(CSR_INFO_URI)
def csr_action_info() -> Response:
    return json_response(_action_info(CSR_INFO_URI, _CSR_PARAMETERS,
                                      {"KeyPairAlgorithm": list(KEY_ALGORITHMS)}))


@blueprint.get(REPLACE_INFO_URI)
def replace_action_info() -> Response:
    return json_response(_action_info(REPLACE_INFO_URI, _REPLACE_PARAMETERS,
                                      {"CertificateType": ["PEM"]}))


@blueprint.get(LOCATIONS_URI)
def certificate_locations() -> Response:
    return json_response(resource(
        LOCATIONS_URI, "#CertificateLocations.v1_0_4.CertificateLocations",
        "CertificateLocations", "Certificate Locations",
        Links={"Certificates": [ref(CERTIFICATE_URI)], "Certificates@odata.count": 1},
    ))


serve_collection(blueprint, CERTIFICATES_URI, "CertificateCollection", "HTTPS Certificates",
                 lambda: [CERTIFICATE_URI])


def _name(name: x509.Name) -> dict[str, str]:
    fields = {"CommonName": NameOID.COMMON_NAME, "Organization": NameOID.ORGANIZATION_NAME,
              "OrganizationalUnit": NameOID.ORGANIZATIONAL_UNIT_NAME,
              "City": NameOID.LOCALITY_NAME, "State": NameOID.STATE_OR_PROVINCE_NAME,
              "Country": NameOID.COUNTRY_NAME}
    out = {}
    for key, oid in fields.items():
        values = name.get_attributes_for_oid(oid)
        if values:
            out[key] = str(values[0].value)
    return out


@blueprint.get(CERTIFICATE_URI)
def certificate() -> Response:
    holder = bmc().certificate
    leaf = holder.leaf()
    return json_response(resource(
        CERTIFICATE_URI, "#Certificate.v1_11_0.Certificate", "1", "HTTPS Certificate",
        CertificateString=holder.pem().decode(),
        CertificateType="PEMchain",
        CertificateUsageTypes=["Web"],
        Issuer=_name(leaf.issuer),
        Subject=_name(leaf.subject),
        SerialNumber=_colon_hex(leaf.serial_number),
        ValidNotBefore=leaf.not_valid_before_utc.isoformat(),
        ValidNotAfter=leaf.not_valid_after_utc.isoformat(),
        Fingerprint=leaf.fingerprint(hashes.SHA256()).hex(":").upper(),
        FingerprintHashAlgorithm="TPM_ALG_SHA256",
    ))


def _check(action: str, document: dict[str, Any],
           parameters: dict[str, tuple[type, bool]]) -> None:
    check_action(action, document, {n: k for n, (k, _) in parameters.items()},
                 required=[n for n, (_, required) in parameters.items() if required])


def _link(action: str, document: dict[str, Any], name: str, wanted: str) -> None:
    link = document[name].get("@odata.id")
    if link is None or link.rstrip("/") != wanted:
        raise RedfishError(400, "ActionParameterValueNotInList", str(link)[:80], name, action)


@post_action(blueprint, SERVICE_URI, CSR_ACTION, Privilege.CONFIGURE_MANAGER)
def generate_csr() -> Response:
    document = read_json()
    _check(CSR_ACTION, document, _CSR_PARAMETERS)
    _link(CSR_ACTION, document, "CertificateCollection", CERTIFICATES_URI)
    algorithm = document.get("KeyPairAlgorithm", KEY_ALGORITHMS[0])
    if algorithm not in KEY_ALGORITHMS:
        raise RedfishError(400, "ActionParameterValueNotInList", algorithm, "KeyPairAlgorithm",
                           CSR_ACTION)
    names = document.get("AlternativeNames", [])
    if not all(isinstance(n, str) for n in names):
        raise RedfishError(400, "ActionParameterValueTypeError", "AlternativeNames",
                           "AlternativeNames", CSR_ACTION)
    csr = bmc().certificate.generate_csr(CsrRequest(
        common_name=document["CommonName"], organization=document.get("Organization", ""),
        organizational_unit=document.get("OrganizationalUnit", ""),
        city=document.get("City", ""), state=document.get("State", ""),
        country=document.get("Country", ""), alternative_names=tuple(names),
        key_algorithm=algorithm))
    return json_response({"CSRString": csr, "CertificateCollection": ref(CERTIFICATES_URI)})


@post_action(blueprint, SERVICE_URI, REPLACE_ACTION, Privilege.CONFIGURE_MANAGER)
def replace_certificate() -> Response:
    document = read_json()
    _check(REPLACE_ACTION, document, _REPLACE_PARAMETERS)
    _link(REPLACE_ACTION, document, "CertificateUri", CERTIFICATE_URI)
    if document["CertificateType"] not in ("PEM", "PEMchain"):
        raise RedfishError(400, "ActionParameterValueNotInList", document["CertificateType"],
                           "CertificateType", REPLACE_ACTION)
    bmc().certificate.replace(document["CertificateString"])
    return json_response(None, 204)


refuse_unknown_actions(blueprint, SERVICE_URI, Privilege.CONFIGURE_MANAGER)


def _colon_hex(number: int) -> str:
    """A certificate serial number as the schema writes it ("0a:1b:...")."""
    return number.to_bytes(max(1, (number.bit_length() + 7) // 8), "big").hex(":")
