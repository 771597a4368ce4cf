"""Drain and undrain hooks: tell the cluster's scheduler a node is about to go away.

A hook is a command (argv, ``{node}`` and ``{cluster}`` substituted, run
without a shell) or a webhook (JSON POST ``{"action", "node", "cluster",
"campaign"}``). A hook may run twice for one node if the gateway crashed
while it ran, so hooks must be idempotent (draining a drained node is fine).
"""

from __future__ import annotations

import logging
import subprocess

import requests

from gateway.orchestrator.errors import HookError
from gateway.orchestrator.settings import Hook

LOG = logging.getLogger(__name__)
_OUTPUT_LIMIT = 300


def run_hook(hook: Hook, *, action: str, node: str, cluster: str, campaign: str) -> None:
    """Run the hook once; HookError (one line, no secrets) when it does not succeed."""
    if hook.command:
        _run_command(hook, action=action, node=node, cluster=cluster, campaign=campaign)
    elif hook.webhook:
        _post_webhook(hook, action=action, node=node, cluster=cluster, campaign=campaign)


def _run_command(hook: Hook, *, action: str, node: str, cluster: str, campaign: str) -> None:
    argv = [part.replace("{node}", node).replace("{cluster}", cluster) for part in hook.command]
    env = {"FLEETFLASH_ACTION": action, "FLEETFLASH_NODE": node,
           "FLEETFLASH_CLUSTER": cluster, "FLEETFLASH_CAMPAIGN": campaign}
    LOG.info("%s hook for node %s: %s", action, node, argv[0])
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=hook.timeout_s,
                              env=env, check=False)
    except subprocess.TimeoutExpired as exc:
        raise HookError(f"{action} hook timed out after {hook.timeout_s:.0f} s") from exc
    except OSError as exc:
        raise HookError(f"{action} hook could not run {argv[0]}: {exc.strerror}") from exc
    if done.returncode != 0:
        output = (done.stderr or done.stdout or "").strip().splitlines()
        detail = output[-1][:_OUTPUT_LIMIT] if output else "no output"
        raise HookError(f"{action} hook exited {done.returncode}: {detail}")


def _post_webhook(hook: Hook, *, action: str, node: str, cluster: str, campaign: str) -> None:
    assert hook.webhook is not None
    payload = {"action": action, "node": node, "cluster": cluster, "campaign": campaign}
    try:
        response = requests.post(hook.webhook, json=payload, timeout=hook.timeout_s,
                                 allow_redirects=False)
    except requests.RequestException as exc:
        raise HookError(f"{action} webhook failed: {exc.__class__.__name__}") from exc
    if not 200 <= response.status_code < 300:
        raise HookError(f"{action} webhook answered HTTP {response.status_code}")
