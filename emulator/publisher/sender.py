"""Build the update alerts of ALERT-PROFILE.md and send them with pywbem ExportIndication."""

from __future__ import annotations

import uuid

import pywbem
from pywbem import CIMDateTime, CIMInstance, CIMProperty, Uint16

DEFAULT_OWNING_ENTITY = "FLEETFLASH"
ALERT_CLASS = "CIM_AlertIndication"


class PublishError(Exception):
    """The alert could not be delivered, or the gateway refused it (message says which)."""


def _common(message_id: str, arguments: list[str], *, owning_entity: str,
            identifier: str | None, description: str | None,
            system_name: str | None) -> dict[str, CIMProperty]:
    properties = {
        "IndicationIdentifier": CIMProperty("IndicationIdentifier",
                                            identifier or f"fleetflash:{uuid.uuid4()}"),
        "IndicationTime": CIMProperty("IndicationTime", CIMDateTime.now()),
        "AlertType": CIMProperty("AlertType", Uint16(1)),
        "OtherAlertType": CIMProperty("OtherAlertType", "FirmwareUpdateAvailable"),
        "PerceivedSeverity": CIMProperty("PerceivedSeverity", Uint16(2)),
        "OwningEntity": CIMProperty("OwningEntity", owning_entity),
        "MessageID": CIMProperty("MessageID", message_id),
        "MessageArguments": CIMProperty("MessageArguments", arguments, type="string",
                                        is_array=True),
    }
    if description:
        properties["Description"] = CIMProperty("Description", description)
    if system_name:
        properties["SystemName"] = CIMProperty("SystemName", system_name)
    return properties


def update_available_indication(
    *, image_uri: str, image_sha256: str, bundle_id: str, release: str,
    manifest_uri: str | None = None, description: str | None = None,
    owning_entity: str = DEFAULT_OWNING_ENTITY, identifier: str | None = None,
    system_name: str | None = None,
) -> CIMInstance:
    """FWUP0001 as a CIM_AlertIndication instance (identifier: a fresh UUID by default)."""
    arguments = [image_uri, image_sha256, bundle_id, release]
    if manifest_uri:
        arguments.append(manifest_uri)
    properties = _common("FWUP0001", arguments, owning_entity=owning_entity,
                         identifier=identifier, description=description,
                         system_name=system_name)
    properties["AlertingManagedElement"] = CIMProperty(
        "AlertingManagedElement",
        f'root/cimv2:CIM_SoftwareIdentity.InstanceID="{owning_entity.lower()}:bundle:'
        f'{bundle_id.replace(chr(34), "")}"')
    properties["AlertingElementFormat"] = CIMProperty("AlertingElementFormat", Uint16(2))
    return CIMInstance(ALERT_CLASS, properties=properties)


def withdrawn_indication(
    *, bundle_id: str, image_sha256: str, owning_entity: str = DEFAULT_OWNING_ENTITY,
    identifier: str | None = None, description: str | None = None,
) -> CIMInstance:
    """FWUP0002 as a CIM_AlertIndication instance."""
    properties = _common("FWUP0002", [bundle_id, image_sha256], owning_entity=owning_entity,
                         identifier=identifier, description=description, system_name=None)
    return CIMInstance(ALERT_CLASS, properties=properties)


def send_indication(gateway_url: str, indication: CIMInstance, *, user: str | None = None,
                    password: str | None = None, verify_tls: bool = True,
                    ca_certs: str | None = None, timeout: float = 30.0) -> None:
    """Deliver `indication` to the listener at `gateway_url` (http(s)://host:port).

    Raises PublishError when the connection fails, the listener answers with an
    HTTP error (401, 403, 413 ...) or a CIM error (refused alert).
    """
    creds = (user, password or "") if user else None
    connection = pywbem.WBEMConnection(gateway_url, creds=creds, no_verification=not verify_tls,
                                       ca_certs=ca_certs, timeout=timeout)
    try:
        connection.ExportIndication(NewIndication=indication)
    except pywbem.CIMError as exc:
        raise PublishError(f"gateway refused the alert: {exc.status_code_name}: "
                           f"{exc.status_description}") from exc
    except pywbem.HTTPError as exc:
        detail = f" ({exc.cimdetails})" if exc.cimdetails else ""
        raise PublishError(f"gateway answered HTTP {exc.status} {exc.reason}"
                           f"{' ' + exc.cimerror if exc.cimerror else ''}{detail}") from exc
    except pywbem.AuthError as exc:
        raise PublishError("gateway refused the credentials (HTTP 401)") from exc
    except pywbem.ConnectionError as exc:
        raise PublishError(f"cannot reach the gateway at {gateway_url}: {exc}") from exc
    except pywbem.Error as exc:
        raise PublishError(f"alert delivery failed: {exc.__class__.__name__}: {exc}") from exc
    finally:
        connection.close()
