"""Hand-written CIM-XML export requests, shaped like those CIMOMs and pywbem send."""

from __future__ import annotations

from xml.sax.saxutils import escape

SHA = "c0ffee" + "0" * 58


def prop(name: str, value: str, cim_type: str = "string") -> str:
    return (f'<PROPERTY NAME="{name}" TYPE="{cim_type}">\n'
            f"  <VALUE>{escape(value)}</VALUE>\n</PROPERTY>")


def prop_array(name: str, values: list[str], cim_type: str = "string") -> str:
    items = "".join(f"\n    <VALUE>{escape(v)}</VALUE>" for v in values)
    return (f'<PROPERTY.ARRAY NAME="{name}" TYPE="{cim_type}">\n'
            f"  <VALUE.ARRAY>{items}\n  </VALUE.ARRAY>\n</PROPERTY.ARRAY>")


def update_properties(*, uri: str, sha: str = SHA, identifier: str = "cimom-1",
                      owning_entity: str = "FLEETFLASH", message_id: str = "FWUP0001",
                      arguments: list[str] | None = None) -> list[str]:
    """Profile properties in an unusual order and case, as a CIMOM might send them."""
    args = arguments if arguments is not None else [uri, sha, "test-bundle", "test"]
    return [
        prop_array("MessageArguments", args),
        prop("messageid", message_id),
        prop("PerceivedSeverity", "2", "uint16"),
        prop("OwningEntity", owning_entity),
        prop("IndicationTime", "20261125101500.000000+000", "datetime"),
        prop("AlertType", "1", "uint16"),
        prop("OtherAlertType", "FirmwareUpdateAvailable"),
        prop("INDICATIONIDENTIFIER", identifier),
        prop("Description", "quarterly bundle"),
        prop("AlertingManagedElement",
             'root/cimv2:CIM_SoftwareIdentity.InstanceID="acme:bundle:2026Q4"'),
        prop("AlertingElementFormat", "2", "uint16"),
        prop("SystemName", "publisher.example.com"),
    ]


def export_request(properties: list[str], *, classname: str = "CIM_AlertIndication",
                   cim_version: str = "2.0", dtd_version: str = "2.0",
                   protocol_version: str = "1.0", method: str = "ExportIndication",
                   msg_id: str = "1001") -> bytes:
    body = "\n".join(properties)
    return f"""<?xml version="1.0" encoding="utf-8" ?>
<CIM CIMVERSION="{cim_version}" DTDVERSION="{dtd_version}">
  <MESSAGE ID="{msg_id}" PROTOCOLVERSION="{protocol_version}">
    <SIMPLEEXPREQ>
      <EXPMETHODCALL NAME="{method}">
        <EXPPARAMVALUE NAME="NewIndication">
          <INSTANCE CLASSNAME="{classname}">
            <QUALIFIER NAME="Indication" TYPE="boolean" OVERRIDABLE="false">
              <VALUE>TRUE</VALUE>
            </QUALIFIER>
{body}
          </INSTANCE>
        </EXPPARAMVALUE>
      </EXPMETHODCALL>
    </SIMPLEEXPREQ>
  </MESSAGE>
</CIM>
""".encode()


def export_headers(method: str = "ExportIndication") -> dict[str, str]:
    return {"Content-Type": 'application/xml; charset="utf-8"', "CIMExport": "MethodRequest",
            "CIMExportMethod": method, "CIMProtocolVersion": "1.0", "Accept": "text/xml"}
