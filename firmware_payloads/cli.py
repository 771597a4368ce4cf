"""`fleetflash bundle ...`: keygen, build, inspect, verify.

Every BundleError becomes one line on stderr ("error: ...") and exit status 1;
no traceback reaches the user. Success output goes to stdout through rich.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable
from pathlib import Path
from typing import ParamSpec, TypeVar

import click
from rich.console import Console
from rich.table import Table

from firmware_payloads.build import build_bundle
from firmware_payloads.errors import BundleError
from firmware_payloads.keys import key_id, load_private_key, load_public_key, write_keypair
from firmware_payloads.reader import DEFAULT_MAX_STREAM_BYTES, BundleReader, open_bundle
from firmware_payloads.spec import BundleSpec
from firmware_payloads.verify import (
    find_signing_key,
    verify_boot_catalog,
    verify_boot_image,
    verify_manifest,
    verify_payload,
)

P = ParamSpec("P")
R = TypeVar("R")


def _console() -> Console:
    # Created per command so click's CliRunner (which swaps sys.stdout) captures it.
    console = Console(highlight=False, soft_wrap=True)
    if not console.is_terminal:
        # Piped or captured output: rich would assume 80 columns and squash the table.
        console = Console(highlight=False, soft_wrap=True, width=160)
    return console


def _one_line_errors(command: Callable[P, R]) -> Callable[P, R]:
    """Turn BundleError into a single ``error: ...`` line on stderr and exit status 1."""

    @functools.wraps(command)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return command(*args, **kwargs)
        except BundleError as exc:
            click.echo(f"error: {exc}", err=True)
            raise SystemExit(1) from None

    return wrapper


def _human_bytes(count: int) -> str:
    size = float(count)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if size < 1024 or unit == "GiB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    raise AssertionError("unreachable")


_source_options = [
    click.option("--max-stream-bytes", type=click.IntRange(min=1),
                 default=DEFAULT_MAX_STREAM_BYTES, show_default=True,
                 help="Cap for a full download when a server ignores HTTP Range."),
    click.option("--timeout", type=click.FloatRange(min=0.1), default=30.0, show_default=True,
                 help="Seconds per HTTP request."),
]


def _with_source_options(command: Callable[P, R]) -> Callable[P, R]:
    for option in reversed(_source_options):
        command = option(command)
    return command


@click.group()
def bundle() -> None:
    """Build, inspect and verify signed firmware update bundles (ISO 9660)."""


@bundle.command()
@click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False, path_type=Path),
              help="Directory for bundle-signing.key (mode 0600) and bundle-signing.pub.")
@_one_line_errors
def keygen(out_dir: Path) -> None:
    """Generate an Ed25519 bundle-signing key pair. Never overwrites existing keys."""
    private_path, public_path = write_keypair(out_dir)
    fingerprint = key_id(load_public_key(public_path))
    _console().print(f"wrote private key {private_path} (mode 0600; keep it secret)")
    _console().print(f"wrote public key  {public_path} (key id {fingerprint})")


@bundle.command()
@click.argument("spec_path", metavar="SPEC.yaml", type=click.Path(path_type=Path))
@click.option("--key", "key_path", required=True, type=click.Path(path_type=Path),
              help="Private signing key (PEM).")
@click.option("-o", "--output", "out_path", required=True, type=click.Path(path_type=Path),
              help="Where to write the bundle image.")
@_one_line_errors
def build(spec_path: Path, key_path: Path, out_path: Path) -> None:
    """Build a signed bundle image from a YAML spec."""
    private_key = load_private_key(key_path)
    spec = BundleSpec.from_yaml(spec_path)
    started = time.perf_counter()
    manifest = build_bundle(spec, private_key, out_path)
    elapsed = time.perf_counter() - started
    platforms = ", ".join(image.platform for image in manifest.boot)
    _console().print(
        f"built {out_path}: bundle {manifest.bundle_id} release {manifest.release}, "
        f"{len(manifest.packages)} packages{f', bootable ({platforms})' if platforms else ''}, "
        f"{_human_bytes(out_path.stat().st_size)}, "
        f"signed by key {key_id(private_key.public_key())} in {elapsed:.2f} s"
    )


def _package_table(reader: BundleReader) -> Table:
    manifest = reader.manifest
    table = Table(title=f"{manifest.bundle_id}  release {manifest.release}  "
                        f"publisher {manifest.publisher}  schema {manifest.schema_version}")
    for column in ("Package", "Component", "Version", "Models", "Min from", "Requires", "Reset",
                   "Size", "SHA-256"):
        table.add_column(column, justify="right" if column == "Size" else "left")
    for pkg in manifest.packages:
        table.add_row(pkg.id, pkg.component, pkg.version, ", ".join(pkg.models),
                      pkg.min_from_version or "-", ", ".join(pkg.requires) or "-",
                      pkg.reset.value, _human_bytes(pkg.size), pkg.sha256[:12])
    return table


@bundle.command()
@click.argument("source", metavar="PATH_OR_URL")
@_with_source_options
@_one_line_errors
def inspect(source: str, max_stream_bytes: int, timeout: float) -> None:
    """Show a bundle's manifest (read with HTTP Range for URLs). Does NOT verify it."""
    with open_bundle(source, max_stream_bytes=max_stream_bytes, timeout=timeout) as reader:
        table = _package_table(reader)
        console = _console()
        console.print(table)
        if reader.manifest.boot:
            images = ", ".join(f"{image.platform} {_human_bytes(image.size)}"
                               for image in reader.manifest.boot)
            console.print(f"bootable CD (El Torito): {images}")
        console.print(
            f"{reader.source}: {_human_bytes(reader.size)} image, "
            f"{_human_bytes(reader.bytes_transferred)} read to inspect it "
            f"({reader.bytes_transferred} bytes). Signature NOT verified; "
            "use `fleetflash bundle verify`."
        )


@bundle.command()
@click.argument("source", metavar="PATH_OR_URL")
@click.option("--trusted-key", "trusted_key_paths", multiple=True, required=True,
              type=click.Path(path_type=Path), help="Trusted public key (PEM); repeatable.")
@click.option("--manifest-only", is_flag=True,
              help="Check the signature and manifest only, not the payload hashes.")
@_with_source_options
@_one_line_errors
def verify(source: str, trusted_key_paths: tuple[Path, ...], manifest_only: bool,
           max_stream_bytes: int, timeout: float) -> None:
    """Verify the signature against trusted keys and every payload's size and sha256.

    Exit status 0 only when everything verifies.
    """
    trusted = [load_public_key(path) for path in trusted_key_paths]
    console = _console()
    with open_bundle(source, max_stream_bytes=max_stream_bytes, timeout=timeout) as reader:
        manifest = verify_manifest(reader.manifest_bytes, reader.signature, trusted)
        signer = key_id(find_signing_key(reader.manifest_bytes, reader.signature, trusted))
        console.print(f"signature ok: bundle {manifest.bundle_id} signed by key {signer}")
        verify_boot_catalog(reader, manifest)
        if manifest.boot:
            platforms = ", ".join(image.platform for image in manifest.boot)
            console.print(f"boot catalog ok: its entries ({platforms}) load the signed boot images")
        if manifest_only:
            console.print("payloads not checked (--manifest-only)")
            return
        started = time.perf_counter()
        total = 0
        for image in manifest.boot:
            verify_boot_image(reader, image)
            console.print(f"boot image ok: {image.platform} {_human_bytes(image.size)}")
        for pkg in manifest.packages:
            verify_payload(reader, pkg)
            total += pkg.size
            console.print(f"payload ok: {pkg.id} {pkg.path} {_human_bytes(pkg.size)}")
        elapsed = max(time.perf_counter() - started, 1e-9)
        console.print(
            f"verified {source}: {len(manifest.packages)} payloads, {_human_bytes(total)} "
            f"at {total / elapsed / 1e6:.0f} MB/s"
        )
