"""The [[clusters]], [[bmcs]], [[qos_classes]] and [orchestrator] config sections."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from gateway.cluster_config import load_clusters, load_orchestrator_settings
from gateway.config import ConfigError, load_config
from gateway.domain import AutonomyPolicy, DeliveryMethod, NodeStep
from gateway.redfish import TlsMode
from tests.support.gateway_toml import bmc_toml, cluster_toml, table

BASE = """
[gateway]
name = "gw"
state_dir = "state"
"""

GOOD = BASE + """
[orchestrator]
tick_s = 0.5
global_max_concurrent = 40
cd_settle_s = 60
[orchestrator.timeouts]
monitor = 7200

[[qos_classes]]
name = "batch"
order = 1
windows = [{ days = [5, 6], start = "22:00", hours = 6 }]

[[qos_classes]]
name = "db"
manual_only = true

[[clusters]]
name = "hpc"
failure_budget = 2
autonomy = "auto_approve"
max_concurrent = 10
delivery = ["simple_update", "msc"]
drain_command = ["/usr/bin/drain", "{node}"]
undrain_webhook = "https://sched.example/undrain"

[[clusters.groups]]
name = "rack1"
max_unavailable = 1

[[clusters.groups]]
name = "rack2"
min_available = 1

[[bmcs]]
name = "n1"
cluster = "hpc"
group = "rack1"
qos = "batch"
url = "https://10.0.0.1"
username = "admin"
password_file = "n1.pass"
tls = "insecure"

[[bmcs]]
name = "n2"
cluster = "hpc"
group = "rack2"
qos = "db"
url = "http://127.0.0.1:8000"
username = "admin"
password_env = "FF_TEST_BMC_PASSWORD"

[[bmcs]]
name = "n3"
cluster = "hpc"
group = "rack2"
url = "http://127.0.0.1:8001"
username = "admin"
password = "lab-only"
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "gateway.toml"
    path.write_text(textwrap.dedent(text))
    return path


def test_a_full_declaration_builds_the_domain_cluster_and_endpoints(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "n1.pass").write_text("s3cret-from-file\n")
    monkeypatch.setenv("FF_TEST_BMC_PASSWORD", "s3cret-from-env")
    config = load_config(write(tmp_path, GOOD))
    (settings,) = load_clusters(config)
    cluster = settings.cluster
    assert cluster.name == "hpc" and cluster.failure_budget == 2
    assert cluster.autonomy is AutonomyPolicy.AUTO_APPROVE and cluster.max_concurrent == 10
    assert cluster.allowance("rack1") == 1 and cluster.allowance("rack2") == 1
    assert cluster.qos_of("n1").windows and cluster.qos_of("n2").manual_only
    assert cluster.qos_of("n3").name == "default"
    assert settings.delivery == (DeliveryMethod.SIMPLE_UPDATE, DeliveryMethod.MSC)
    assert settings.drain is not None and settings.drain.command == ("/usr/bin/drain", "{node}")
    assert settings.undrain is not None and settings.undrain.webhook
    assert settings.endpoints["n1"].password == "s3cret-from-file"
    assert settings.endpoints["n1"].tls is TlsMode.INSECURE
    assert settings.endpoints["n2"].password == "s3cret-from-env"
    assert "s3cret" not in repr(settings.endpoints)
    orchestrator = load_orchestrator_settings(config)
    assert orchestrator.global_max_concurrent == 40 and orchestrator.tick_s == 0.5
    assert orchestrator.timeout(NodeStep.MONITOR).total_seconds() == 7200
    assert orchestrator.cd_settle_s == 60
    assert orchestrator.events_http is None  # no receiver unless configured: polling


@pytest.mark.parametrize(("description", "text", "message"), [
    ("unknown cluster key", BASE + '[[clusters]]\nname = "c"\nfailure_budgte = 1\n',
     "unknown key"),
    ("BMC in an undeclared cluster",
     BASE + '[[bmcs]]\nname = "n"\ncluster = "nope"\ngroup = "g"\nurl = "http://h"\n'
     'username = "u"\npassword = "p"\n', "unknown cluster"),
    ("two password sources",
     BASE + '[[clusters]]\nname = "c"\n[[clusters.groups]]\nname = "g"\nmax_unavailable = 1\n'
     '[[bmcs]]\nname = "n"\ncluster = "c"\ngroup = "g"\nurl = "http://h"\nusername = "u"\n'
     'password = "p"\npassword_env = "X"\n', "exactly one of"),
    ("node in an unknown group",
     BASE + '[[clusters]]\nname = "c"\n[[clusters.groups]]\nname = "g"\nmax_unavailable = 1\n'
     '[[bmcs]]\nname = "n"\ncluster = "c"\ngroup = "zz"\nurl = "http://h"\nusername = "u"\n'
     'password = "p"\n', "unknown group"),
    ("both group limits", BASE + '[[clusters]]\nname = "c"\n[[clusters.groups]]\nname = "g"\n'
     'max_unavailable = 1\nmin_available = 1\n', "exactly one of max_unavailable"),
    ("bad delivery method", BASE + '[[clusters]]\nname = "c"\ndelivery = ["carrier-pigeon"]\n',
     "not one of"),
    ("bad autonomy", BASE + '[[clusters]]\nname = "c"\nautonomy = "yolo"\n', "not one of"),
    ("bad BMC URL", BASE + '[[clusters]]\nname = "c"\n[[clusters.groups]]\nname = "g"\n'
     'max_unavailable = 1\n[[bmcs]]\nname = "n"\ncluster = "c"\ngroup = "g"\n'
     'url = "ftp://h"\nusername = "u"\npassword = "hunter2"\n', "URL must be http"),
    ("window start", BASE + '[[qos_classes]]\nname = "q"\nwindows = [{days = [1], '
     'start = "25:00", hours = 1}]\n', "HH:MM"),
    ("unknown timeout step", BASE + '[orchestrator.timeouts]\nflashing = 3\n', "unknown step"),
    ("negative tick", BASE + '[orchestrator]\ntick_s = -1\n', "positive number"),
    ("receiver without a port", BASE + '[orchestrator]\nevents_http = "0.0.0.0"\n',
     "events_http must be HOST:PORT"),
    ("receiver URL not http", BASE + '[orchestrator]\nevents_http = "0.0.0.0:8447"\n'
     'events_url = "gw.example:8447"\n', r"events_url must be an http\(s\) URL"),
])
def test_bad_declarations_name_the_problem(tmp_path: Path, description: str, text: str,
                                           message: str) -> None:
    # The file's shape is checked when it loads, the rest when clusters are built.
    with pytest.raises(ConfigError, match=message) as caught:
        config = load_config(write(tmp_path, text))
        load_clusters(config)
        load_orchestrator_settings(config)
    assert "hunter2" not in str(caught.value), description


def test_missing_password_env_is_named_without_a_value(tmp_path: Path) -> None:
    text = BASE + ('[[clusters]]\nname = "c"\n[[clusters.groups]]\nname = "g"\n'
                   'max_unavailable = 1\n[[bmcs]]\nname = "n"\ncluster = "c"\ngroup = "g"\n'
                   'url = "http://h"\nusername = "u"\npassword_env = "FF_SURELY_UNSET_VAR"\n')
    with pytest.raises(ConfigError, match="FF_SURELY_UNSET_VAR is not set"):
        load_clusters(load_config(write(tmp_path, text)))


def test_no_clusters_means_no_orchestration(tmp_path: Path) -> None:
    assert load_clusters(load_config(write(tmp_path, BASE))) == ()


def test_the_event_receiver_is_configured_in_the_orchestrator_section(tmp_path: Path) -> None:
    path = tmp_path / "gateway.toml"
    path.write_text(BASE + textwrap.dedent("""
        [orchestrator]
        events_http = "[::1]:8447"
        events_url = "https://gw.example:8447"
        event_fallback_s = 45
        """))
    settings = load_orchestrator_settings(load_config(path))
    assert settings.events_http == ("::1", 8447) and str(settings.events_http) == "[::1]:8447"
    assert settings.events_url == "https://gw.example:8447"
    assert settings.event_fallback_s == 45


def staged_cluster(qos: str | None = "batch", **cluster: object) -> str:
    """Cluster "hpc" with staged activation and downgrades allowed (or `cluster`'s
    values), its one node n1 in QoS class `qos` (None: the default class, no window)."""
    settings: dict[str, object] = {"activation": "staged", "allow_downgrade": True, **cluster}
    return (BASE + table("[qos_classes]", name="batch",
                         windows=[{"days": [5, 6], "start": "22:00", "hours": 6}])
            + cluster_toml("hpc", **settings)
            + bmc_toml("n1", "hpc", "rack1", "http://127.0.0.1:8000", username="admin",
                       password="lab-only", **({"qos": qos} if qos else {})))


def test_activation_and_downgrade_policy_are_cluster_keys(tmp_path: Path) -> None:
    from gateway.orchestrator.settings import Activation

    (staged,) = load_clusters(load_config(write(tmp_path, staged_cluster())))
    assert staged.activation is Activation.STAGED and staged.allow_downgrade
    # Every node has a window: campaigns are created and staged.
    assert staged.staged and staged.staged_refusal() is None
    (plain,) = load_clusters(load_config(write(tmp_path, GOOD.replace(
        'password_file = "n1.pass"', 'password = "x"').replace(
        'password_env = "FF_TEST_BMC_PASSWORD"', 'password = "y"'))))
    assert plain.activation is Activation.IMMEDIATE and not plain.allow_downgrade
    assert plain.staged_refusal() is None


@pytest.mark.parametrize(("description", "text", "message"), [
    ("staged without any window", staged_cluster(qos=None),
     "QoS class 'default' (nodes n1) has none"),
    ("unknown activation", staged_cluster(activation="later"), "not one of"),
    ("downgrade policy not a boolean", staged_cluster(allow_downgrade="yes"),
     "allow_downgrade must be true or false"),
])
def test_bad_activation_or_downgrade_policy_is_refused(tmp_path: Path, description: str,
                                                       text: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace(")", r"\)")):
        load_clusters(load_config(write(tmp_path, text)))
