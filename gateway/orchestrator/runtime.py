"""The running orchestrator: a scheduler loop, node workers, campaign creation, health probes.

Threads: one loop (every ``tick_s``: scheduler decisions, lease renewal, and
dispatch of due node steps), a pool of ``workers`` carrying out steps, and one
background thread creating campaigns for newly verified images and probing
idle nodes. All coordination goes through the store, so a second gateway on
the same database (or this one after ``kill -9``) sees the same picture.

When a node that stays in its step is looked at again is remembered in memory
(run_timers.RunTimers, a timer per node); the store is swept for due runs this
process is not already driving (new starts, takeovers, runs of an earlier process)
every ``SWEEP_EVERY_S`` and at once after the scheduler started nodes.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from pathlib import Path

from firmware_payloads import Manifest
from gateway.domain import NodeStep
from gateway.media import CapabilityGrant
from gateway.orchestrator.bmc_events import BmcEvent, wakes_monitor
from gateway.orchestrator.creator import CampaignCreator
from gateway.orchestrator.engine import PARKED, Engine, StepResult
from gateway.orchestrator.errors import LeaseLostError, OrchestratorError
from gateway.orchestrator.inventory import EventDestination, refresh_idle, subscribe
from gateway.orchestrator.membership import Membership
from gateway.orchestrator.run_timers import RunKey, RunTimers
from gateway.orchestrator.scheduler import DRIVEN_STEPS, OPEN_STATES, Scheduler
from gateway.orchestrator.settings import ClusterSettings, OrchestratorSettings
from gateway.redfish import RedfishError
from gateway.store import GatewayStore, StoreError, utcnow
from gateway.store.campaign_records import CampaignRecord, RunRecord
from gateway.store.campaigns import CampaignStore
from gateway.store.work_notices import WorkNotices

LOG = logging.getLogger(__name__)
CAPABILITY_LIFETIME_S = 14 * 24 * 3600
SCHEDULE_EVERY_S = 1.0
CAMPAIGN_CACHE_S = 5.0
RESCHEDULE_AFTER_S = 0.2  # at most this often when woken (a node finished or failed)
SWEEP_EVERY_S = 1.0  # look in the store for due runs this process is not driving
# A pushed event wakes MONITOR this long after it arrives, and the events arriving
# meanwhile ride on the same look: a BMC pushes a change to a firmware member and its
# UpdateSuccessful one after the other, and one look reads both outcomes. Short, because
# the look after an update CD's last activation is on every slot of the critical path
# (docs/performance.md, "Tenth session"); an event arriving later than this costs only
# a second look.
EVENT_LOOK_AFTER_S = 0.1
# Where a node's BMC is subscribed to the gateway driving it (not asked while resetting).
# Before anything is delivered: an event the BMC pushes before its subscription exists
# is lost (a CD that cannot fetch its image says so only once, at once). Measured at
# 5,000 nodes: subscribed at the first wait in MONITOR instead, a node whose CD failed
# 3 s after the insert never heard of it and sat in MONITOR.
FIRST_STEPS = frozenset({NodeStep.PRECHECK.value, NodeStep.STAGE.value})

# (image_sha256, campaign_id, node_id, expires_at) -> capability URL
UrlMinter = Callable[[str, str, str, int], str]
# image_sha256 -> path of the verified file in the cache (None if not there)
ImageLocator = Callable[[str], Path | None]


class Orchestrator:
    """Runs campaigns for ``clusters``. ``owner``: this gateway's stable lease name."""

    def __init__(self, images: GatewayStore, store: CampaignStore,
                 clusters: tuple[ClusterSettings, ...], settings: OrchestratorSettings, *,
                 owner: str, mint_url: UrlMinter, locate_image: ImageLocator,
                 events: EventDestination | None = None) -> None:
        self.images = images
        self.store = store
        self.clusters = {c.name: c for c in clusters}
        self.settings = settings
        self.owner = owner
        self.mint_url = mint_url
        self.locate_image = locate_image
        self.engine = Engine(store, settings, owner)
        # The fleet this gateway shares the database with (alone: a fleet of one).
        self.membership = Membership(store, owner, self.engine.epoch, settings.lease,
                                     leader_share=settings.leader_share)
        self.scheduler = Scheduler(store, images, self.clusters, settings, owner,
                                   assign=self.membership.assign)
        # Nodes another member (the leader) started for this one are swept at once; a
        # node another member finished is looked at at once by the leader (it decides).
        self.notices = WorkNotices(store.engine, owner, self._swept_now,
                                   on_schedule=self._another_finished)
        self.events = events  # node id -> URL its BMC pushes events to (None: polling)
        self.api_url = ""  # where this gateway's API answers, for /api/gateways (the service)
        # Whether the inventory subscribes every BMC is asked of the database when it
        # runs (a member started since the last heartbeat counts too).
        self.creator = CampaignCreator(
            store, images, self.clusters, settings, owner, clients=self.engine.clients,
            events=events,
            subscribe_all=lambda: len(self.membership.registry.live_names()) <= 1)
        self._pool = ThreadPoolExecutor(max_workers=settings.workers,
                                        thread_name_prefix="node-step")
        # Runs driven now, and when each waiting run is due again.
        self.timers = RunTimers(EVENT_LOOK_AFTER_S)
        self._sweep_now = True
        self._last_sweep = 0.0
        self._manifests: dict[str, Manifest] = {}
        self._campaigns: dict[str, tuple[float, CampaignRecord]] = {}
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._reschedule = threading.Event()
        self._last_schedule = 0.0
        self._last_claim = 0.0
        self._last_beat = 0.0  # monotonic end of the last heartbeat
        self._threads: list[threading.Thread] = []
        # Joins BMCs registered while running (gateway/orchestrator/registry_sync.py);
        # set by the wiring, returns the node ids that joined.
        self.sync_registry: Callable[[], list[str]] = list
        # Further chores of the background loop (e.g. advertising cached images to
        # peers); one returning True wakes the scheduler.
        self.housekeeping: list[Callable[[], bool]] = []
        # Called right after this gateway created a campaign (e.g. offering its image to
        # the peers now: the campaign's first node may be given to one of them).
        self.campaign_created: list[Callable[[], None]] = []
        # The grant of a capability URL this fleet minted (set by the wiring; None: not
        # one): how a step knows media in a virtual CD is the gateway's own.
        self.read_url: Callable[[str], CapabilityGrant | None] = lambda _url: None

    # -- life cycle ---------------------------------------------------------------

    def start(self) -> None:
        """Join the fleet, start the loop and the background thread (idempotent).
        Raises NameInUseError (a StoreError) when a live gateway has the same name."""
        if self._threads:
            return
        self.membership.join(api_url=self.api_url,
                             events_url=self.events.prefix() if self.events else "")
        self.notices.start()
        for target, name in ((self._loop, "orchestrator"), (self._background, "campaigns")):
            thread = threading.Thread(target=target, name=name, daemon=True)
            thread.start()
            self._threads.append(thread)
        LOG.info("orchestrator %s running for clusters %s", self.owner,
                 ", ".join(sorted(self.clusters)) or "(none)")

    def stop(self) -> None:
        """Stop looking for work, let running steps finish, log out of BMCs."""
        self._stop.set()
        self._wake.set()
        for thread in self._threads:
            thread.join(timeout=30)
        self._threads.clear()
        self.notices.stop()
        self._pool.shutdown(wait=True, cancel_futures=True)
        self.engine.clients.close_all()
        try:
            self.membership.leave()
        except StoreError as exc:
            LOG.warning("could not leave the fleet cleanly: %s", exc)

    def wake(self) -> None:
        """Take campaign decisions now (after an operator action or a node finishing)."""
        self._reschedule.set()
        self._wake.set()

    def _another_finished(self) -> None:
        """Another member's node finished: the scheduler looks now if this gateway leads
        (the others would only read the campaigns to find they follow)."""
        if any(self.scheduler.leads(cluster) for cluster in self.clusters):
            self.wake()

    def _swept_now(self) -> None:
        """Sweep the store for due runs now (another gateway started some for this one)."""
        self._sweep_now = True
        self._wake.set()

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                self.tick()
            except (StoreError, OrchestratorError) as exc:
                LOG.error("orchestrator tick failed: %s", exc)
            self._wake.wait(self._until_next_timer())
            self._wake.clear()

    def _until_next_timer(self) -> float:
        """Seconds to sleep: a tick, or less when a waiting run is due sooner."""
        first = self.timers.next_due()
        if first is None:
            return self.settings.tick_s
        return min(self.settings.tick_s, max(0.0, first - time.monotonic()))

    def _background(self) -> None:
        last_health = time.monotonic()
        while not self._stop.is_set():
            try:
                joined = bool(self.sync_registry())
                if any([chore() for chore in self.housekeeping]) or joined:
                    self.wake()
                if self.settings.auto_campaigns and self.creator.create_due():
                    # Before the scheduler is woken, not after the loop's pause: the new
                    # campaign's first node may be given to another member, which reads
                    # the image from this one only once it is offered (measured: a canary
                    # started a second late there, and again with the offer racing the
                    # wake-up).
                    for hook in self.campaign_created:
                        hook()
                    self.wake()
                if time.monotonic() - last_health >= self.settings.health_interval_s:
                    self.refresh_health()
                    last_health = time.monotonic()
            except (StoreError, OrchestratorError) as exc:
                LOG.error("campaign creation / health refresh failed: %s", exc)
            self._stop.wait(max(self.settings.tick_s, 1.0))

    # -- one tick -------------------------------------------------------------------

    def tick(self) -> None:
        """Scheduler decisions, lease renewal/takeover, dispatch of due node steps.

        Dispatch of waiting runs happens every tick; the scheduler (which reads every
        run of every open campaign) only when something finished or at least every
        SCHEDULE_EVERY_S; leases are renewed (and expired ones taken over) every third
        of a lease; the store is swept for due runs every SWEEP_EVERY_S.
        """
        now = utcnow()
        clock = time.monotonic()
        since = clock - self._last_schedule
        if (self._reschedule.is_set() and since >= RESCHEDULE_AFTER_S) or (
                since >= SCHEDULE_EVERY_S):
            self._reschedule.clear()
            self._last_schedule = clock
            if self.scheduler.tick(now):
                self._sweep_now = True
        if clock - self._last_claim >= self.settings.lease_s / 3:
            if not self.membership.heartbeat():
                LOG.error("gateway %s: another process took over this name (this one was "
                          "taken for dead); stopping", self.owner)
                self._stop.set()
                return
            beat = time.monotonic()  # after the heartbeat: a database that hung counts
            if self._last_beat and beat - self._last_beat > self.settings.lease_s:
                # Silent for a lease or more: taken for dead, maybe for gone, by the
                # others, who may have removed its BMC subscriptions meanwhile.
                LOG.warning("gateway %s: %.0f s since its last heartbeat; its BMC event "
                            "subscriptions are made sure of again", self.owner,
                            beat - self._last_beat)
                self.engine.clients.forget_events()
            self._last_beat = beat
            ours = [c.id for c in self.store.list_campaigns() if c.cluster in self.clusters]
            if ours:
                self.store.claim_runs(self.owner, self.settings.lease, DRIVEN_STEPS, ours,
                                      members=self.membership.live_members)
            self._forget_lost_runs()
            self._last_claim = clock
        if self._sweep_now or clock - self._last_sweep >= SWEEP_EVERY_S:
            self._sweep_now = False
            self._last_sweep = clock
            # A fresh clock: runs the scheduler started just now are due after `now`.
            for key in self.store.due_run_keys(self.owner, DRIVEN_STEPS, utcnow()):
                if not self.timers.is_waiting(key):
                    self._submit(key, None)
        for key, run in self.timers.due(clock):
            self._submit(key, run)

    def on_bmc_events(self, node_id: str, events: tuple[BmcEvent, ...]) -> None:
        """Events a node's BMC pushed (called on the receiver's thread: no I/O here). Its
        Update messages are kept for the node's steps (a failure fails it at once); a
        firmware or task event wakes the node if it is waiting in MONITOR (after
        EVENT_LOOK_AFTER_S: the events that arrive until then share that look), or
        shortens the wait after the look a worker is making now (run_timers)."""
        self.engine.inbox.add(node_id, events)
        if not any(wakes_monitor(event) for event in events):
            return
        if self.timers.event_for(node_id):
            self._wake.set()

    def _forget_lost_runs(self) -> None:
        """Stop timing runs whose lease this gateway no longer holds (taken over)."""
        waiting = self.timers.waiting_keys()
        if not waiting:  # nothing timed: nothing to ask the store about
            return
        held = self.store.leased_keys(self.owner, DRIVEN_STEPS)
        self.timers.forget([key for key in waiting if key not in held])

    def _submit(self, key: RunKey, run: RunRecord | None) -> None:
        """Drive ``key`` on a worker (``run``: as stored, or None to read it first)."""
        if not self.timers.claim(key):
            return
        try:
            self._pool.submit(self._drive, key, run)
        except RuntimeError:  # shutting down
            self.timers.release(key)

    def _drive(self, key: RunKey, run: RunRecord | None) -> None:
        """Advance one node until it has to wait (Stay) or reaches a final step."""
        try:
            if run is None:
                # Swept from the store: a worker may have moved it since, or lost it.
                run = self.store.run(*key)
                if run.lease_owner != self.owner or run.step not in DRIVEN_STEPS:
                    return
            campaign = self._campaign(run.campaign_id)
            cluster = self.clusters[campaign.cluster]
            manifest = self._manifest(campaign.image_sha256)
            if run.step in FIRST_STEPS:
                self._subscribe(cluster, run.node_id)
            changed = False  # a node finished or failed: the scheduler should look now
            while not self._stop.is_set():
                result: StepResult = self.engine.advance(
                    run, campaign, cluster, manifest,
                    media_url=partial(self._url, campaign, run.node_id),
                    image_file=partial(self._image_file, campaign.image_sha256),
                    media_grant=self.read_url)
                changed = changed or result.step in PARKED or result.step is NodeStep.FAILED
                if result.step in PARKED:
                    break
                if result.wait_s is not None:
                    self.timers.wait(key, result.run, result.wait_s,
                                    woken=result.step is NodeStep.MONITOR)
                    break
                run = result.run
            if changed:
                self.wake()
                if (self.membership.live_members > 1
                        and not self.scheduler.leads(cluster.name)):
                    self.notices.schedule_now()  # the leader decides who takes the slot
        except LeaseLostError as exc:
            LOG.warning("%s", exc)
        except (StoreError, OrchestratorError) as exc:
            LOG.error("node %s: %s", key[1], exc)
        except Exception:  # a worker thread must log, never die silently
            LOG.exception("node %s: unexpected error", key[1])
        finally:
            self.timers.release(key)

    def _subscribe(self, cluster: ClusterSettings, node_id: str) -> None:
        """Have the node's BMC push its events to this gateway, which drives it (a no-op
        once subscribed here); one that cannot push or fails to answer is polled."""
        endpoint = cluster.endpoints.get(node_id)
        if self.events is None or endpoint is None or self.engine.clients.pushes_events(
                node_id):
            return
        try:
            with self.engine.clients.node_lock(node_id):  # one subscription, not two
                subscribe(self.engine.clients.get(endpoint), node_id, self.events)
        except RedfishError as exc:
            LOG.info("node %s: not subscribed to events for now: %s", node_id, exc)

    def _campaign(self, campaign_id: str) -> CampaignRecord:
        """The campaign, read at most every CAMPAIGN_CACHE_S: steps use only fields that
        never change (id, cluster, image, creation time); states are the scheduler's."""
        now = time.monotonic()
        cached = self._campaigns.get(campaign_id)
        if cached is not None and now - cached[0] < CAMPAIGN_CACHE_S:
            return cached[1]
        campaign = self.store.get_campaign(campaign_id)
        self._campaigns[campaign_id] = (now, campaign)
        return campaign

    def _manifest(self, sha256: str) -> Manifest:
        manifest = self._manifests.get(sha256)
        if manifest is None:
            text = self.images.get_image(sha256).manifest_json
            if not text:
                raise OrchestratorError(f"image {sha256} has no verified manifest")
            manifest = Manifest.from_json(text.encode())
            self._manifests[sha256] = manifest
        return manifest

    def _url(self, campaign: CampaignRecord, node_id: str) -> str:
        # This gateway's media server serves the URL from its own cache: the image must
        # be there (read from a peer if another gateway acquired it).
        self._image_file(campaign.image_sha256)
        # Deterministic: the same node always gets the same URL, so re-inserting after
        # a crash is recognised as "already inserted".
        expires = int(campaign.created_at.timestamp()) + CAPABILITY_LIFETIME_S
        return self.mint_url(campaign.image_sha256, campaign.id, node_id, expires)

    def _image_file(self, sha256: str) -> Path:
        path = self.locate_image(sha256)
        if path is None:
            raise OrchestratorError(f"image {sha256} is not in the cache")
        return path

    # -- health ---------------------------------------------------------------------

    def refresh_health(self) -> int:
        """Re-inventory idle nodes of clusters with open campaigns; returns how many."""
        open_clusters = {c.cluster for c in self.store.list_campaigns(OPEN_STATES)}
        # In a fleet an idle BMC is subscribed by whichever gateway drives it next.
        events = self.events if self.membership.live_members <= 1 else None
        return refresh_idle(
            self.store, {name: self.clusters[name].endpoints
                         for name in open_clusters & set(self.clusters)},
            self.engine.clients, events, busy=self.store.busy_nodes(DRIVEN_STEPS),
            stopped=self._stop.is_set)
