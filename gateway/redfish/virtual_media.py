"""VirtualMedia (under Managers, or Systems on newer BMCs): insert, eject, read state.

Vendors disagree on the insert payload and on what an eject leaves behind
(docs/interop.md, "Vendor quirks"). sushy's insert_media sends ``Image`` alone (what
Supermicro and iLO4 require: they refuse ``Inserted``/``WriteProtected``) and its
eject_media retries an iLO's refusal of a bodyless eject with ``{}``. On top of that:
a BMC whose InsertMedia names an ``@Redfish.ActionInfo`` gets the payload its
Parameters ask for from the first attempt (gateway.redfish.insert_plan); one that
refuses an insert for want of ``Inserted`` (Lenovo) gets it, and the gateway remembers
that per BMC (``habits``, kept by the caller for the run); an eject
is read back and repeated while the slot still says Inserted (Dell), a bounded number
of times, as Ironic's redfish boot module does.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import sushy
from sushy import exceptions as sushy_exc
from sushy.resources.manager.manager import Manager
from sushy.resources.manager.virtual_media import VirtualMedia
from sushy.resources.system.system import System

from gateway.redfish.errors import NotSupportedError, RequestRejectedError, translated
from gateway.redfish.insert_plan import InsertPlan, insert_plan

LOG = logging.getLogger(__name__)

_CD_TYPES = frozenset({"CD", "DVD"})
# habits[INSERT_HABIT]: the payload this BMC was found to take, learnt from a refusal
# (EXPLICIT_INSERT: Inserted/WriteProtected sent; PLAIN_INSERT: Image alone); it wins
# over what its ActionInfo said (habits[INFO_HABIT], an InsertPlan read once).
INSERT_HABIT = "vmedia_insert"
EXPLICIT_INSERT = "explicit"
PLAIN_INSERT = "plain"
INFO_HABIT = "vmedia_insert_info"
# Ejects of one slot before giving up on one that keeps reporting Inserted.
EJECT_ATTEMPTS = 3


@dataclass(frozen=True)
class MediaState:
    slot: str
    image: str | None
    inserted: bool


def _media_types(media: VirtualMedia) -> set[str]:
    return {str(t) for t in media.json.get("MediaTypes") or []}


def _owners(root: sushy.Sushy, system: System | None) -> Iterator[Manager | System]:
    """Who may hold the CD: managers first, then systems (read lazily). For a chosen
    ``system``: the managers it names in Links.ManagedBy (every manager when it names
    none), then the system itself, never another system's slot."""
    managed_by = [] if system is None else [
        str(entry["@odata.id"]) for entry in (system.json.get("Links") or {})
        .get("ManagedBy") or [] if isinstance(entry, dict) and "@odata.id" in entry]
    managers = managed_by or sorted(root.get_manager_collection().members_identities)
    yield from (root.get_manager(member) for member in managers)
    if system is not None:
        yield system
        return
    yield from (root.get_system(member)
                for member in sorted(root.get_system_collection().members_identities))


def find_cd(root: sushy.Sushy, system: System | None = None) -> VirtualMedia | None:
    """The first VirtualMedia slot accepting CD/DVD images, managers first; None if none.
    ``system``: the host the CD is for, on a root serving several (see _owners)."""
    with translated("looking for a virtual CD"):
        for owner in _owners(root, system):
            try:
                collection = owner.virtual_media
            except (sushy_exc.MissingAttributeError, sushy_exc.ResourceNotFoundError):
                continue
            for identity in sorted(collection.members_identities):
                media = collection.get_member(identity)
                if _media_types(media) & _CD_TYPES:
                    return media
    return None


def require_cd(root: sushy.Sushy, system: System | None = None) -> VirtualMedia:
    media = find_cd(root, system)
    if media is None:
        raise NotSupportedError("the BMC offers no virtual CD/DVD")
    return media


def state_of(media: VirtualMedia, *, refresh: bool = True) -> MediaState:
    """The slot's state, read fresh unless ``refresh`` is False (the caller has just
    read the resource). Raises RedfishError.

    Read as plain JSON: refreshing sushy's VirtualMedia parses every field of it, and
    only these three are used; what the actions need of the resource (its action
    targets, MediaTypes, Allow) does not change while a client lives."""
    with translated("reading virtual media"):
        doc: dict[str, Any] = media._conn.get(media.path).json() if refresh else media.json
        image = doc.get("Image")
        return MediaState(str(doc.get("Id", "")), image if image else None,
                          bool(doc.get("Inserted")))


def insert(media: VirtualMedia, image_url: str,
           credentials: tuple[str, str] | None = None, *,
           current: MediaState | None = None,
           habits: dict[str, Any] | None = None) -> None:
    """Insert ``image_url`` read-only. Ejects whatever else is inserted first (many BMCs
    refuse an insert while Image is set); inserting the same image again is a no-op.
    ``credentials``: (user, password) the BMC presents to the image server;
    ``current``: the slot's state if the caller has just read it; ``habits``: what was
    learnt about this BMC's insert payload (read and updated)."""
    current = current or state_of(media)
    if current.inserted and current.image == image_url:
        return
    if current.inserted or current.image:
        eject(media, current=current)
    habits = habits if habits is not None else {}
    user, password = credentials if credentials is not None else (None, None)
    with translated("inserting virtual media"):
        if INFO_HABIT not in habits:  # read once per BMC, before the first attempt
            habits[INFO_HABIT] = insert_plan(_action_info(media))
        plan: InsertPlan = habits[INFO_HABIT]
        extra = plan.extra_for(image_url)
        learnt = habits.get(INSERT_HABIT)
        explicit = learnt == EXPLICIT_INSERT if learnt else plan.explicit
        try:
            _send_insert(media, image_url, user, password, explicit=explicit, extra=extra)
            return
        except sushy_exc.HTTPError as exc:
            if not _refuses_shape(exc, explicit):
                raise
        # The other payload, once; remembered when it worked. A BMC whose firmware
        # changed its mind (a refusal of the learnt shape) is re-learnt the same way,
        # and so is one whose ActionInfo does not tell the truth.
        LOG.info("%s: InsertMedia refused %s Inserted/WriteProtected; trying %s",
                 media.path, "with" if explicit else "without",
                 "without" if explicit else "with")
        _send_insert(media, image_url, user, password, explicit=not explicit, extra=extra)
        habits[INSERT_HABIT] = PLAIN_INSERT if explicit else EXPLICIT_INSERT


def _action_info(media: VirtualMedia) -> dict[str, Any] | None:
    """InsertMedia's ``@Redfish.ActionInfo`` resource, or None when the BMC names none
    or it cannot be read (then the payload is learnt from a refusal instead)."""
    action = (media.json.get("Actions") or {}).get("#VirtualMedia.InsertMedia")
    uri = action.get("@Redfish.ActionInfo") if isinstance(action, dict) else None
    if not isinstance(uri, str):
        return None
    try:
        body = media._conn.get(uri).json()
    except (sushy_exc.HTTPError, ValueError) as exc:  # it answered, but not an ActionInfo
        LOG.info("%s: InsertMedia's ActionInfo %s unreadable (%s); the payload is learnt "
                 "from the BMC's answers", media.path, uri, exc)
        return None
    return body if isinstance(body, dict) else None


# What a BMC answers when it wants Inserted (Lenovo), or when it refuses it or
# WriteProtected (Supermicro, iLO4): sushy's virtual_media.py records both.
_MISSING = ("ActionParameterMissing", "PropertyMissing")
_UNWANTED = ("ActionParameterNotSupported", "ActionParameterUnknown", "PropertyUnknown")


def _refuses_shape(exc: sushy_exc.HTTPError, explicit: bool) -> bool:
    """A 400 that names Inserted as missing (for the plain payload) or Inserted or
    WriteProtected as not wanted (for the explicit one)."""
    if exc.status_code != 400:
        return False
    ids, names = (_UNWANTED, {"Inserted", "WriteProtected"}) if explicit else (
        _MISSING, {"Inserted"})
    for info in exc.extended_info or []:
        if not isinstance(info, dict):
            continue
        if str(info.get("MessageId", "")).endswith(ids) and names & set(
                info.get("MessageArgs") or []):
            return True
    return False


def _send_insert(media: VirtualMedia, image_url: str, user: str | None,
                 password: str | None, *, explicit: bool, extra: dict[str, str]) -> None:
    """InsertMedia as sushy sends it (``Image`` alone: it leaves out Inserted and
    WriteProtected when they are true, the schema defaults) or, ``explicit``, with both
    spelled out (sushy's PATCH form always carries them); ``extra``: the transfer
    parameters the ActionInfo requires."""
    if explicit:
        target, use_patch = media._get_insert_media_uri()
        if not use_patch:
            payload: dict[str, Any] = {"Image": image_url, "Inserted": True,
                                       "WriteProtected": True, **extra}
            if user is not None:
                payload.update(UserName=user, Password=password)
            media._conn.post(target, data=payload)
            media.invalidate()
            return
    media.insert_media(image_url, inserted=True, write_protected=True,
                       username=user, password=password,
                       transfer_method=extra.get("TransferMethod"),
                       transfer_protocol=extra.get("TransferProtocolType"))


def eject(media: VirtualMedia, *, current: MediaState | None = None) -> None:
    """Eject the slot and read it back; nothing happens when it is already empty
    (``current``: the slot's state if the caller has just read it). A slot that still
    reports media after an eject is ejected again (Dell), EJECT_ATTEMPTS times at most;
    then RequestRejectedError names what the BMC keeps reporting."""
    current = current or state_of(media)
    if not current.inserted and not current.image:
        return
    refusals = getattr(media._conn, "last_refusal", lambda: None)
    refusals()  # only the ejects' own answers below
    for _attempt in range(EJECT_ATTEMPTS):
        with translated("ejecting virtual media"):
            media.eject_media()
        current = state_of(media)
        # Inserted decides: some BMCs keep showing the last Image in an ejected slot.
        if not current.inserted:
            return
    # sushy swallows some refusals of an eject (a 5xx): what the BMC said is named.
    refused = refusals()
    raise RequestRejectedError(
        f"the virtual CD still reports {current.image or 'media'} inserted after "
        f"{EJECT_ATTEMPTS} ejects" + (f"; the last refusal: {refused}" if refused else ""))


def can_insert(media: VirtualMedia) -> bool:
    """Whether the slot can be loaded: it offers VirtualMedia.InsertMedia, or allows PATCH
    of Image (the two ways sushy's insert_media knows). Raises RedfishError."""
    actions = media.json.get("Actions") or {}
    if "#VirtualMedia.InsertMedia" in actions:
        return True
    with translated("reading virtual media"):
        return bool(media._allow_patch())  # the Allow header of the slot
