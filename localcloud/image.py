"""The base image every local machine boots from, and its offline package sources.

A droplet's user-data installs packages and wheels from the internet; local
machines have none. So the image carries a local apt repository (the role
packages and what they pull in) as its only apt source and names a pip
wheelhouse in /etc/pip.conf; both are bind-mounted into each machine, and the
user-data runs unchanged. Building takes minutes, so results are cached under
a digest of every build input and reused until an input changes.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import re
import shutil
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path

from localcloud.host import cache_dir, require_root, run, unmount_under
from model import python
from model.project import ROOT
from render import templates

MIRROR_ENV = "LOCALCLOUD_MIRROR"
DEFAULT_MIRROR = "http://deb.debian.org/debian"
APT_MOUNT = "/opt/localcloud/apt"
WHEELHOUSE_MOUNT = "/opt/localcloud/wheelhouse"
MANIFEST = "image.json"
TEMPLATE_DIR = "localcloud/templates"
TEMPLATES = ROOT / TEMPLATE_DIR
RECIPE_REVISION = 1
IMAGE_TEMPLATES: tuple[str, ...] = (
    "locale.gen.j2",
    "default-locale.j2",
    "localcloud.sources.j2",
    "pip.conf.j2",
    "90-localcloud.cfg.j2",
)

BASE_PACKAGES: tuple[str, ...] = (
    "systemd",
    "systemd-sysv",
    "dbus",
    "cloud-init",
    "python3-cffi-backend",
    "iproute2",
    "ifupdown",
    "sudo",
    "netbase",
    "openssh-server",
    "locales",
    "curl",
    "ca-certificates",
)
REPO_PACKAGES: tuple[str, ...] = (
    "nginx-light",
    "certbot",
    "memcached",
    "postgresql-15",
    "postgresql-common",
    "pgbouncer",
    "python3",
    "python3-venv",
    "python3-dev",
    "python3-pip",
    "build-essential",
    "unattended-upgrades",
    "chrony",
    "systemd-timesyncd",
    "curl",
    "rsync",
    "pgbackrest",
)
MASKED_UNITS: tuple[str, ...] = ("console-getty.service", "systemd-firstboot.service")
WHEEL_BOOTSTRAP: tuple[str, ...] = ("pip", "setuptools", "wheel")

_INST = re.compile(r"^Inst (\S+) ")


@dataclass(frozen=True)
class ImageRecipe:
    """Every input of an image build; its digest names the cached result."""

    suite: str = "bookworm"
    mirror: str = DEFAULT_MIRROR
    base_packages: tuple[str, ...] = BASE_PACKAGES
    repo_packages: tuple[str, ...] = REPO_PACKAGES
    locale: str = "en_US.UTF-8"
    charset: str = "UTF-8"
    masked_units: tuple[str, ...] = MASKED_UNITS

    def digest(self) -> str:
        """Hash of the recipe, the templates it renders and the build steps' revision."""
        h = hashlib.sha256()
        h.update(json.dumps({"revision": RECIPE_REVISION, **asdict(self)}, sort_keys=True).encode())
        for name in IMAGE_TEMPLATES:
            h.update(name.encode() + b"\0" + (TEMPLATES / name).read_bytes() + b"\0")
        return h.hexdigest()[:16]


def default_recipe() -> ImageRecipe:
    """The standard recipe, with the mirror taken from the environment when set."""
    return ImageRecipe(mirror=os.environ.get(MIRROR_ENV) or DEFAULT_MIRROR)


@dataclass(frozen=True)
class Image:
    """A built image: the read-only root every machine overlays, and its apt repository."""

    digest: str
    rootfs: Path
    apt_repo: Path
    build_seconds: float
    packages: tuple[str, ...]


def ensure_image(recipe: ImageRecipe | None = None, cache: Path | None = None) -> Image:
    """Return the cached image for `recipe`, building it first if its inputs changed."""
    require_root()
    recipe = recipe or default_recipe()
    base = (cache or cache_dir()) / "images"
    digest = recipe.digest()
    final = base / digest
    with _locked(base):
        if not (final / MANIFEST).is_file():
            partial = base / f".{digest}.partial"
            if partial.exists():
                unmount_under(partial)
            shutil.rmtree(partial, ignore_errors=True)
            partial.mkdir(parents=True)
            started = time.monotonic()
            packages = _build(recipe, partial)
            manifest = {
                "digest": digest,
                "recipe": asdict(recipe),
                "build_seconds": round(time.monotonic() - started, 1),
                "packages": packages,
            }
            (partial / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n")
            shutil.rmtree(final, ignore_errors=True)
            partial.rename(final)
    return load_image(final)


def load_image(path: Path) -> Image:
    manifest = json.loads((path / MANIFEST).read_text())
    return Image(
        digest=manifest["digest"],
        rootfs=path / "rootfs",
        apt_repo=path / "apt",
        build_seconds=float(manifest["build_seconds"]),
        packages=tuple(manifest["packages"]),
    )


def ensure_wheelhouse(requirements: Path, cache: Path | None = None) -> Path:
    """Download wheels for `requirements`, for exactly the nodes' Python and platform, into a cached wheelhouse.

    Only binary wheels are taken: a machine has no compiler guarantee and no
    index, so a requirement without a wheel must fail here, not at deploy.
    """
    content = Path(requirements).read_bytes()
    h = hashlib.sha256(content)
    h.update(json.dumps([python.target_args(), WHEEL_BOOTSTRAP]).encode())
    base = (cache or cache_dir()) / "wheelhouses"
    final = base / h.hexdigest()[:16]
    with _locked(base):
        if final.is_dir():
            return final
        partial = base / f".{final.name}.partial"
        shutil.rmtree(partial, ignore_errors=True)
        partial.mkdir(parents=True)
        run(
            [
                sys.executable, "-m", "pip", "download", "--disable-pip-version-check", "--quiet",
                *python.target_args(),
                "--dest", str(partial), "-r", str(requirements), *WHEEL_BOOTSTRAP,
            ]
        )
        partial.rename(final)
    return final


@contextmanager
def _locked(directory: Path) -> Iterator[None]:
    """Serialise builds of the same cache between processes."""
    directory.mkdir(parents=True, exist_ok=True)
    with open(directory / ".lock", "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _render(name: str, **values: str) -> str:
    return templates.render(f"{TEMPLATE_DIR}/{name}", **values)


def _chroot(rootfs: Path, *argv: str) -> str:
    env = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "LANG": "C.UTF-8", "DEBIAN_FRONTEND": "noninteractive"}
    return run(["chroot", str(rootfs), *argv], env=env).stdout.decode()


def _build(recipe: ImageRecipe, out: Path) -> list[str]:
    """debootstrap, then locale, repo, sources, pip and cloud-init settings; returns the repo's packages."""
    rootfs = out / "rootfs"
    run(
        [
            "debootstrap", "--variant=minbase", f"--include={','.join(recipe.base_packages)}",
            recipe.suite, str(rootfs), recipe.mirror,
        ]
    )
    _write(rootfs / "etc/locale.gen", _render("locale.gen.j2", locale=recipe.locale, charset=recipe.charset))
    _write(rootfs / "etc/default/locale", _render("default-locale.j2", locale=recipe.locale))
    _chroot(rootfs, "locale-gen")

    packages = _build_repo(rootfs, recipe.repo_packages)
    (rootfs / "etc/apt/sources.list").unlink(missing_ok=True)
    _write(rootfs / "etc/apt/sources.list.d/localcloud.sources", _render("localcloud.sources.j2", apt_mount=APT_MOUNT))
    _chroot(rootfs, "apt-get", "update", "-q")
    _chroot(rootfs, "apt-get", "clean")
    (rootfs / APT_MOUNT.lstrip("/")).rename(out / "apt")
    (rootfs / APT_MOUNT.lstrip("/")).mkdir()

    (rootfs / WHEELHOUSE_MOUNT.lstrip("/")).mkdir(parents=True)
    _write(rootfs / "etc/pip.conf", _render("pip.conf.j2", wheelhouse_mount=WHEELHOUSE_MOUNT))
    _write(rootfs / "etc/cloud/cloud.cfg.d/90-localcloud.cfg", _render("90-localcloud.cfg.j2"))
    for unit in recipe.masked_units:
        link = rootfs / "etc/systemd/system" / unit
        link.unlink(missing_ok=True)
        link.symlink_to("/dev/null")
    # Per-instance identity is made at first boot, as on a cloud image.
    for key in (rootfs / "etc/ssh").glob("ssh_host_*"):
        key.unlink()
    (rootfs / "etc/machine-id").write_text("")
    (rootfs / "var/lib/dbus/machine-id").unlink(missing_ok=True)
    (rootfs / "etc/resolv.conf").unlink(missing_ok=True)
    return packages


def _build_repo(rootfs: Path, wanted: tuple[str, ...]) -> list[str]:
    """Download, inside the chroot, what installing each package on a fresh machine would fetch."""
    _chroot(rootfs, "apt-get", "update", "-q")
    names: set[str] = set(wanted)
    for package in wanted:
        simulated = _chroot(rootfs, "apt-get", "install", "--simulate", "-q", package)
        names.update(m.group(1) for line in simulated.splitlines() if (m := _INST.match(line)))
    repo = rootfs / APT_MOUNT.lstrip("/")
    repo.mkdir(parents=True)
    ordered = sorted(names)
    _chroot(
        rootfs, "env", f"--chdir={APT_MOUNT}", "apt-get", "download", "-q",
        "-o", "APT::Sandbox::User=root", *ordered,
    )
    index = run(["dpkg-scanpackages", "--multiversion", "."], cwd=repo).stdout
    (repo / "Packages").write_bytes(index)
    return ordered


def _write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
