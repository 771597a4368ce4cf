"""/redfish, the service root /redfish/v1, $metadata and the OData service document."""

from __future__ import annotations

from flask import Blueprint, Response

from emulator.redfish.common import SERVICE_NAME, bmc, json_response
from emulator.redfish.documents import ref, refs, resource

blueprint = Blueprint("service_root", __name__)

ROOT = "/redfish/v1"

# Every schema namespace our documents use; $metadata references each file
# so a client (and the DMTF validator) can resolve types offline.
METADATA_NAMESPACES: dict[str, tuple[str, ...]] = {
    "ServiceRoot_v1.xml": ("ServiceRoot", "ServiceRoot.v1_20_0"),
    "ComputerSystemCollection_v1.xml": ("ComputerSystemCollection",),
    "ComputerSystem_v1.xml": ("ComputerSystem", "ComputerSystem.v1_27_0"),
    "ManagerCollection_v1.xml": ("ManagerCollection",),
    "Manager_v1.xml": ("Manager", "Manager.v1_24_0"),
    "ChassisCollection_v1.xml": ("ChassisCollection",),
    "Chassis_v1.xml": ("Chassis", "Chassis.v1_28_0"),
    "UpdateService_v1.xml": ("UpdateService", "UpdateService.v1_17_0"),
    "SoftwareInventoryCollection_v1.xml": ("SoftwareInventoryCollection",),
    "SoftwareInventory_v1.xml": ("SoftwareInventory", "SoftwareInventory.v1_13_0"),
    "TaskService_v1.xml": ("TaskService", "TaskService.v1_3_0"),
    "TaskCollection_v1.xml": ("TaskCollection",),
    "Task_v1.xml": ("Task", "Task.v1_7_4"),
    "SessionService_v1.xml": ("SessionService", "SessionService.v1_2_0"),
    "SessionCollection_v1.xml": ("SessionCollection",),
    "Session_v1.xml": ("Session", "Session.v1_8_0"),
    "AccountService_v1.xml": ("AccountService", "AccountService.v1_18_1"),
    "ManagerAccountCollection_v1.xml": ("ManagerAccountCollection",),
    "ManagerAccount_v1.xml": ("ManagerAccount", "ManagerAccount.v1_14_1"),
    "RoleCollection_v1.xml": ("RoleCollection",),
    "Role_v1.xml": ("Role", "Role.v1_3_3"),
    "EventService_v1.xml": ("EventService", "EventService.v1_12_0"),
    "EventDestinationCollection_v1.xml": ("EventDestinationCollection",),
    "EventDestination_v1.xml": ("EventDestination", "EventDestination.v1_16_0"),
    "Event_v1.xml": ("Event", "Event.v1_13_0"),
    "MessageRegistryFileCollection_v1.xml": ("MessageRegistryFileCollection",),
    "MessageRegistryFile_v1.xml": ("MessageRegistryFile", "MessageRegistryFile.v1_1_5"),
    "VirtualMediaCollection_v1.xml": ("VirtualMediaCollection",),
    "VirtualMedia_v1.xml": ("VirtualMedia", "VirtualMedia.v1_6_5"),
    "LogServiceCollection_v1.xml": ("LogServiceCollection",),
    "LogService_v1.xml": ("LogService", "LogService.v1_9_0"),
    "LogEntryCollection_v1.xml": ("LogEntryCollection",),
    "LogEntry_v1.xml": ("LogEntry", "LogEntry.v1_21_0"),
    "ManagerNetworkProtocol_v1.xml": ("ManagerNetworkProtocol",
                                      "ManagerNetworkProtocol.v1_12_0"),
    "EthernetInterfaceCollection_v1.xml": ("EthernetInterfaceCollection",),
    "EthernetInterface_v1.xml": ("EthernetInterface", "EthernetInterface.v1_12_4"),
    "CertificateService_v1.xml": ("CertificateService", "CertificateService.v1_2_1"),
    "CertificateLocations_v1.xml": ("CertificateLocations", "CertificateLocations.v1_0_4"),
    "CertificateCollection_v1.xml": ("CertificateCollection",),
    "Certificate_v1.xml": ("Certificate", "Certificate.v1_11_0"),
    "ActionInfo_v1.xml": ("ActionInfo", "ActionInfo.v1_5_0"),
    "PowerSubsystem_v1.xml": ("PowerSubsystem", "PowerSubsystem.v1_1_3"),
    "Power_v1.xml": ("Power", "Power.v1_7_3"),
    "ThermalSubsystem_v1.xml": ("ThermalSubsystem", "ThermalSubsystem.v1_5_0"),
    "ThermalMetrics_v1.xml": ("ThermalMetrics", "ThermalMetrics.v1_3_2"),
    "FanCollection_v1.xml": ("FanCollection",),
    "Fan_v1.xml": ("Fan", "Fan.v1_6_0"),
    "Thermal_v1.xml": ("Thermal", "Thermal.v1_7_3"),
    "SensorCollection_v1.xml": ("SensorCollection",),
    "Sensor_v1.xml": ("Sensor", "Sensor.v1_12_0"),
    "ControlCollection_v1.xml": ("ControlCollection",),
    "EnvironmentMetrics_v1.xml": ("EnvironmentMetrics", "EnvironmentMetrics.v1_5_0"),
    "Message_v1.xml": ("Message", "Message.v1_3_0"),
    "Resource_v1.xml": ("Resource", "Resource.v1_23_0"),
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
