"""The `fleetflash` console script: one click group, each subcommand group
contributed by the package that makes it work.

`lab` wires the other packages together, so the root command lives here;
each group is imported lazily so `fleetflash bundle ...` does not pay for
libvirt or Flask start-up.
"""

from __future__ import annotations

import importlib

import click

# name -> "module:attribute" of a click command or group. Add a line here when
# a subcommand group starts working; there are no placeholder commands.
COMMAND_GROUPS: dict[str, str] = {
    "bundle": "firmware_payloads.cli:bundle",
    "media": "gateway.media.cli:media",
    "usb": "gateway.media.usb.cli:usb",
    "emulator": "emulator.cli:emulator",
    "gateway": "gateway.cli:gateway",
    "alerts": "gateway.api.cli:alerts",  # the intake's commands + list via the API
    "tokens": "gateway.api.cli:tokens",
    "images": "gateway.api.cli:images",
    "campaigns": "gateway.api.cli_campaigns:campaigns",
    "nodes": "gateway.api.cli_campaigns:nodes",
    "bmcs": "gateway.onboarding.bmcs_cli:bmcs",
    "doctor": "gateway.onboarding.cli:doctor_command",
    "publish": "emulator.publisher.cli:publish",
    "validate": "lab.validate.cli:validate",
    "lab": "lab.cli_lab:lab",
}


# Groups that drive libvirt, shipped in the `lab` extra (pyproject.toml).
NEEDS_LAB_EXTRA = frozenset({"emulator", "lab", "validate"})
LAB_EXTRA_HINT = ("fleetflash {name} needs the lab extra: pip install 'fleetflash[lab]' "
                  "(libvirt-python; on Debian first: apt-get install libvirt-dev pkg-config "
                  "gcc python3-dev)")


def _lab_extra_missing() -> bool:
    try:
        import libvirt  # noqa: F401
    except ImportError:
        return True
    return False


def _missing_extra(name: str) -> click.Command:
    """A stand-in for group `name` that says, in one line, what to install."""

    def refuse() -> None:
        raise click.ClickException(LAB_EXTRA_HINT.format(name=name))

    return click.Command(name, callback=refuse, add_help_option=False,
                         context_settings={"ignore_unknown_options": True,
                                           "allow_extra_args": True},
                         help="(needs: pip install 'fleetflash[lab]')")


class LazyGroup(click.Group):
    """A click group whose subcommands are imported only when used."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMAND_GROUPS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        target = COMMAND_GROUPS.get(cmd_name)
        if target is None:
            return None
        if cmd_name in NEEDS_LAB_EXTRA and _lab_extra_missing():
            return _missing_extra(cmd_name)
        module_name, _, attribute = target.partition(":")
        command = getattr(importlib.import_module(module_name), attribute)
        assert isinstance(command, click.Command)
        return command


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="fleetflash")
def main() -> None:
    """fleetflash: autonomous firmware updates for whole server clusters."""


if __name__ == "__main__":
    main()
