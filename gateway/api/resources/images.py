"""/api/images: update images known to the gateway and how far their acquisition got."""

from __future__ import annotations

from typing import Any

from gateway.api.auth import Role
from gateway.api.context import api_context
from gateway.api.errors import ApiNotFoundError
from gateway.api.resources.common import page
from gateway.api.routing import Call, Resource
from gateway.api.schemas import enum_of, page_of, ref
from gateway.api.validation import PAGE_QUERY
from gateway.store import ImageRecord, ImageState

resource = Resource("images", "images")


def image_json(image: ImageRecord) -> dict[str, Any]:
    """An image as the API shows it (no lease internals)."""
    return {
        "sha256": image.sha256, "state": str(image.state), "source": image.source,
        "bundle_id": image.bundle_id, "release": image.release, "size_bytes": image.size_bytes,
        "attempts": image.attempts, "reason": image.reason,
        "created_at": image.created_at.isoformat(),
        "verified_at": image.verified_at.isoformat() if image.verified_at else None,
        "image_uri": image.image_uri,
    }


@resource.operation("GET", "/images", summary="List update images, oldest first",
                    role=Role.VIEWER, response=page_of("Image"),
                    query={**PAGE_QUERY, "state": enum_of(ImageState)})
def list_images(call: Call) -> Any:
    state = call.query.get("state")
    states = (ImageState(state),) if state else ()
    return page(api_context().store.list_images(*states), call, image_json)


@resource.operation("GET", "/images/<sha256>", summary="Show one image", role=Role.VIEWER,
                    response=ref("Image"))
def get_image(call: Call, sha256: str) -> Any:
    if len(sha256) != 64 or any(c not in "0123456789abcdef" for c in sha256):
        raise ApiNotFoundError("no image with that digest (expected 64 lowercase hex digits)")
    return image_json(api_context().store.get_image(sha256))
