"""/redfish, the service root /redfish/v1, $metadata and the OData service document."""

from __future__ import annotations

from flask import Blueprint, Response

from emulator.redfish.common import SERVICE_NAME, bmc, json_response
from emulator.redfish.documents import ref, refs, resource

blueprint = Blueprint("service_root", __name__)

ROOT = "/redfish/v1"

# Every schema our documents use, at the version they are written against (a
# collection's schema has no versioned namespace); $metadata references each file
# so a client (and the DMTF validator) can resolve types offline.
SCHEMAS: dict[str, str] = dict(entry.partition(".")[::2] for entry in (
    "ServiceRoot.v1_20_0", "ComputerSystemCollection", "ComputerSystem.v1_27_0",
    "ManagerCollection", "Manager.v1_24_0", "ChassisCollection", "Chassis.v1_28_0",
    "UpdateService.v1_17_0", "SoftwareInventoryCollection", "SoftwareInventory.v1_13_0",
    "TaskService.v1_3_0", "TaskCollection", "Task.v1_7_4", "SessionService.v1_2_0",
    "SessionCollection", "Session.v1_8_0", "AccountService.v1_18_1",
    "ManagerAccountCollection", "ManagerAccount.v1_14_1", "RoleCollection", "Role.v1_3_3",
    "EventService.v1_12_0", "EventDestinationCollection", "EventDestination.v1_16_0",
    "Event.v1_13_0", "MessageRegistryFileCollection", "MessageRegistryFile.v1_1_5",
    "VirtualMediaCollection", "VirtualMedia.v1_6_5", "LogServiceCollection",
    "LogService.v1_9_0", "LogEntryCollection", "LogEntry.v1_21_0",
    "ManagerNetworkProtocol.v1_12_0", "EthernetInterfaceCollection",
    "EthernetInterface.v1_12_4", "CertificateService.v1_2_1", "CertificateLocations.v1_0_4",
    "CertificateCollection", "Certificate.v1_11_0", "ActionInfo.v1_5_0",
    "PowerSubsystem.v1_1_3", "Power.v1_7_3", "ThermalSubsystem.v1_5_0",
    "ThermalMetrics.v1_3_2", "FanCollection", "Fan.v1_6_0", "Thermal.v1_7_3",
    "SensorCollection", "Sensor.v1_12_0", "ControlCollection", "EnvironmentMetrics.v1_5_0",
    "Message.v1_3_0", "Resource.v1_23_0", "JobService.v1_0_6", "JobCollection", "Job.v1_2_5",
))


def _namespaces(schema: str, version: str) -> tuple[str, ...]:
    """The namespaces of ``schema``'s CSDL file that our documents use."""
    return (schema, f"{schema}.{version}") if version else (schema,)


METADATA_NAMESPACES: dict[str, tuple[str, ...]] = {
    **{f"{schema}_v1.xml": _namespaces(schema, version) for schema, version in SCHEMAS.items()},
    # Only the versioned namespace: the annotations (@Redfish.AllowableValues, ...).
    "RedfishExtensions_v1.xml": ("RedfishExtensions.v1_0_0",),
}


def _metadata_document() -> str:
    references = []
    for file_name, namespaces in METADATA_NAMESPACES.items():
        includes = "".join(f'<edmx:Include Namespace="{ns}"/>' for ns in namespaces)
        references.append(
            f'<edmx:Reference Uri="http://redfish.dmtf.org/schemas/v1/{file_name}">'
            f"{includes}</edmx:Reference>"
        )
    return (
        '<?xml version="1.0" encoding="UTF-8"?>'
        '<edmx:Edmx xmlns:edmx="http://docs.oasis-open.org/odata/ns/edmx" Version="4.0">'
        + "".join(references)
        + '<edmx:DataServices><Schema xmlns="http://docs.oasis-open.org/odata/ns/edm" '
        'Namespace="Service"><EntityContainer Name="Service" '
        'Extends="ServiceRoot.v1_20_0.ServiceContainer"/></Schema>'
        "</edmx:DataServices></edmx:Edmx>"
    )


METADATA_XML = _metadata_document()


@blueprint.get("/redfish")
def versions() -> Response:
    return json_response({"v1": "/redfish/v1/"})


@blueprint.get(ROOT)
def service_root() -> Response:
    current = bmc()
    return json_response(resource(
        ROOT, "#ServiceRoot.v1_20_0.ServiceRoot", "RootService", SERVICE_NAME,
        RedfishVersion="1.21.0",
        UUID=current.uuid,
        Vendor=current.manufacturer,
        Product=f"{current.model} BMC",
        **refs(ROOT, "Systems", "Managers", "Chassis", "UpdateService"),
        Tasks=ref(f"{ROOT}/TaskService"),
        **refs(ROOT, "SessionService", "AccountService", "EventService", "Registries",
               "CertificateService"),
        Links={"Sessions": ref(f"{ROOT}/SessionService/Sessions")},
        # Only where updates move to Jobs (the job-instead-of-task quirk).
        **({"JobService": ref(f"{ROOT}/JobService")}
           if "job-instead-of-task" in current.quirks else {}),
        ProtocolFeaturesSupported={
            "ExpandQuery": {"ExpandAll": False, "Levels": False, "Links": False,
                            "NoLinks": False},
            "FilterQuery": False,
            "SelectQuery": False,
            "OnlyMemberQuery": False,
            # Many requests may be in flight at once, on one connection or several.
            "MultipleHTTPRequests": True,
        },
    ))


@blueprint.get(f"{ROOT}/$metadata")
def metadata() -> Response:
    response = Response(METADATA_XML, mimetype="application/xml")
    response.headers["OData-Version"] = "4.0"
    return response


@blueprint.get(f"{ROOT}/odata")
def odata_service_document() -> Response:
    singletons = ["Systems", "Managers", "Chassis", "UpdateService", "TaskService",
                  "SessionService", "AccountService", "EventService", "Registries",
                  "CertificateService"]
    return json_response(
        {
            "@odata.context": f"{ROOT}/$metadata",
            "value": [{"name": "Service", "kind": "Singleton", "url": f"{ROOT}/"}]
            + [{"name": name, "kind": "Singleton", "url": f"{ROOT}/{name}"} for name in singletons],
        }
    )
