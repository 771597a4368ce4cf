"""The streamed multipart body: exact length, parsable by a real multipart parser."""

from __future__ import annotations

import io
import json

import pytest
from werkzeug.formparser import parse_form_data

from gateway.redfish.connector import _multipart_body


def parse(body: bytes, boundary: str) -> tuple[dict[str, str], dict[str, tuple[str, bytes]]]:
    environ = {
        "REQUEST_METHOD": "POST", "CONTENT_TYPE": f"multipart/form-data; boundary={boundary}",
        "CONTENT_LENGTH": str(len(body)), "wsgi.input": io.BytesIO(body),
    }
    _, form, files = parse_form_data(environ)
    return dict(form), {name: (f.filename or "", f.read()) for name, f in files.items()}


def test_body_is_exactly_its_announced_length_and_parses_back() -> None:
    image = bytes(range(256)) * 1000 + b"\r\n--tail"
    chunks = [image[i:i + 4096] for i in range(0, len(image), 4096)]
    body_obj = _multipart_body("b0undary", {"Targets": [], "@Redfish.OperationApplyTime":
                                           "Immediate"}, "bundle.iso", iter(chunks), len(image))
    body = b"".join(body_obj)
    assert len(body) == len(body_obj)
    form, files = parse(body, "b0undary")
    assert json.loads(form["UpdateParameters"]) == {"Targets": [],
                                                   "@Redfish.OperationApplyTime": "Immediate"}
    assert files["UpdateFile"] == ("bundle.iso", image)


@pytest.mark.parametrize(("actual", "announced", "message"), [
    (10, 12, "ended after 10 of 12"),
    (12, 10, "larger than the announced 10"),
])
def test_a_stream_that_does_not_match_its_size_is_refused(actual: int, announced: int,
                                                          message: str) -> None:
    body = _multipart_body("b", {}, "x.iso", iter([b"x" * actual]), announced)
    with pytest.raises(ValueError, match=message):
        b"".join(body)
