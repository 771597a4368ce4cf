"""Pure parts of coping with update-request and inventory quirks (docs/interop.md,
"Vendor quirks"): which refusals are transient, how a member is named, which member
counts, and the reason a node without a delivery method gets."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
import requests
from sushy import exceptions as sushy_exc

from gateway.domain import DeliveryMethod, NoDeliveryMethodError, UpdateCapabilities
from gateway.domain.delivery import choose_delivery
from gateway.redfish import BmcBusyError, NotSupportedError, RequestRejectedError
from gateway.redfish.errors import translate
from gateway.redfish.http_push import settings_for
from gateway.redfish.update_service import component_name, running_members


def refusal(status: int, message_id: str, retry_after: str | None = None
            ) -> sushy_exc.HTTPError:
    response = requests.Response()
    response.status_code = status
    response._content = json.dumps({"error": {
        "code": "Base.1.12.GeneralError", "message": "See ExtendedInfo",
        "@Message.ExtendedInfo": [{"MessageId": message_id, "Message": "refused"}]}}).encode()
    try:
        sushy_exc.raise_for_response("POST", "https://bmc/redfish/v1/x", response)
    except sushy_exc.HTTPError as exc:
        if retry_after is not None:
            exc.retry_after = retry_after  # as FleetConnector records it
        return exc
    raise AssertionError("no error raised")


@pytest.mark.parametrize(("status", "message_id", "transient"), [
    (500, "IDRAC.2.8.SYS518", True),
    (400, "iLO.2.14.InvalidOperationForSystemState", True),
    (400, "iLO.2.14.UnableToModifyDuringSystemPOST", True),
    (503, "Base.1.12.ServiceTemporarilyUnavailable", True),
    (409, "Base.1.12.ResourceInUse", True),
    (500, "Base.1.12.InternalError", False),  # an update request is not retried blindly
    (400, "Base.1.12.ActionParameterMissing", False),
])
def test_update_requests_retry_only_known_transient_refusals(
        status: int, message_id: str, transient: bool) -> None:
    error = translate(refusal(status, message_id), "starting SimpleUpdate", strict=True)
    assert error.transient is transient
    assert isinstance(error, BmcBusyError if transient else RequestRejectedError)
    assert message_id.rsplit(".", 1)[1] in str(error) or status in (409, 503)


def test_reads_stay_tolerant_of_any_server_error() -> None:
    assert translate(refusal(500, "Base.1.12.InternalError"), "reading").transient


def test_retry_after_is_carried() -> None:
    error = translate(refusal(503, "Base.1.12.ServiceTemporarilyUnavailable", "7"), "x",
                      strict=True)
    assert error.retry_after == 7.0
    assert translate(refusal(503, "Base.1.12.ServiceTemporarilyUnavailable"), "x",
                     strict=True).retry_after is None


def _member(ident: str, version: str, name: str, state: str = "Enabled",
            updateable: bool = True) -> dict[str, Any]:
    return {"Id": ident, "Version": version, "Name": name, "Updateable": updateable,
            "Status": {"State": state}}


def test_component_named_by_what_it_is() -> None:
    assert component_name(_member("BIOS", "1.5.0", "BIOS firmware")) == "BIOS"
    assert component_name(_member("Installed-159-2.19.1", "2.19.1", "BIOS")) == "BIOS"
    # A version that merely appears in a stable Id does not rename it.
    assert component_name(_member("NIC7", "7", "NIC firmware")) == "NIC7"


def test_only_running_members_count() -> None:
    found = running_members([
        ("/inv/Installed-1-2.0", _member("Installed-1-2.0", "2.0", "BMC")),
        ("/inv/Previous-1-1.0", _member("Previous-1-1.0", "1.0", "BMC", "StandbyOffline",
                                        False)),
        ("/inv/inactive", _member("inactive", "9.9", "BMC firmware (inactive image)",
                                  "Disabled", False)),
        ("/inv/Staged-BIOS", _member("Staged-BIOS", "1.5", "BIOS", "StandbySpare", False)),
        ("/inv/BIOS", _member("BIOS", "1.0", "BIOS")),
        ("/inv/BIOS-copy", _member("BIOS", "1.0-ro", "BIOS", updateable=False)),
    ])
    assert {k: (uri, body["Version"]) for k, (uri, body) in found.items()} == {
        "BMC": ("/inv/Installed-1-2.0", "2.0"), "BIOS": ("/inv/BIOS", "1.0")}


def test_a_missing_delivery_capability_is_named() -> None:
    caps = UpdateCapabilities(simple_update=True, transfer_protocols=("HTTPS",))
    with pytest.raises(NoDeliveryMethodError) as raised:
        choose_delivery(caps, (DeliveryMethod.MULTIPART_PUSH, DeliveryMethod.SIMPLE_UPDATE,
                               DeliveryMethod.MSC))
    said = str(raised.value)
    assert "multipart_push: no UpdateService.MultipartHttpPushUri" in said
    assert "simple_update: SimpleUpdate does not allow TransferProtocol HTTP" in said
    assert "msc: no virtual CD/DVD" in said


def test_http_push_uri_alone_offers_the_push() -> None:
    """A BMC with only HttpPushUri is pushed to; one with no push at all is named."""
    assert choose_delivery(UpdateCapabilities(http_push=True),
                           (DeliveryMethod.MULTIPART_PUSH,)) is DeliveryMethod.MULTIPART_PUSH
    with pytest.raises(NoDeliveryMethodError) as raised:
        choose_delivery(UpdateCapabilities(), (DeliveryMethod.MULTIPART_PUSH,))
    assert "no UpdateService.MultipartHttpPushUri (nor HttpPushUri)" in str(raised.value)


HTTP_PUSH_SERVICE = {
    "@odata.id": "/redfish/v1/UpdateService", "HttpPushUri": "/redfish/v1/UpdateService/update",
    "HttpPushUriTargets": ["/old"], "HttpPushUriTargetsBusy": False,
    "HttpPushUriOptions": {"HttpPushUriApplyTime": {
        "ApplyTime": "OnReset", "ApplyTime@Redfish.AllowableValues": ["Immediate", "OnReset"]}},
}


def test_http_push_settings_name_targets_apply_time_and_the_reservation() -> None:
    patch = settings_for(HTTP_PUSH_SERVICE, ["/inv/NIC"], None)
    assert patch == {"HttpPushUriTargets": ["/inv/NIC"], "HttpPushUriTargetsBusy": True,
                     "HttpPushUriOptions": {"HttpPushUriApplyTime": {"ApplyTime": "Immediate"}}}
    # Nothing to change: no PATCH at all.
    assert settings_for({"HttpPushUri": "/u"}, [], None) == {}
    # Targets where the BMC has no such property: pushed without (logged), not refused.
    assert settings_for({"HttpPushUri": "/u"}, ["/inv/NIC"], None) == {}


@pytest.mark.parametrize(("service", "said"), [
    ({"HttpPushUri": "/u"}, "offers no HttpPushUriOptions: apply time OnReset"),
    ({**HTTP_PUSH_SERVICE, "HttpPushUriOptions": {"HttpPushUriApplyTime": {
        "ApplyTime": "Immediate", "ApplyTime@Redfish.AllowableValues": ["Immediate"]}}},
     "does not allow apply time OnReset (it allows ['Immediate'])"),
])
def test_an_apply_time_http_push_cannot_be_told_is_refused(service: dict[str, object],
                                                           said: str) -> None:
    with pytest.raises(NotSupportedError, match=re.escape(said)):
        settings_for(service, ["/inv/BIOS"], "OnReset")
