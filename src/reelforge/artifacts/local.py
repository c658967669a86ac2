"""Artifacts in a local folder: one file per key, under ``root``.

Durability matters more than speed here (these are the videos users paid
for), so every write goes to a temp file in the destination folder, is
fsynced, renamed over the final name, and the folder is fsynced too: after a
crash a key holds the old file, the new file or nothing, never a torn one.
"""

from __future__ import annotations

import errno
import os
import shutil
import stat
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from reelforge.artifacts.base import ArtifactMissing, ArtifactStore, check_range, validate_key, validate_prefix

# mkstemp creates 0600 files; artifacts are meant to be readable by whatever
# serves them (a reverse proxy may run as another user).
_FILE_MODE = 0o644


def _fsync_dir(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass  # some filesystems cannot fsync a directory; the file itself is synced
    finally:
        os.close(fd)


class LocalArtifacts(ArtifactStore):
    def __init__(self, root: Path):
        self.root = Path(root).expanduser().resolve()
        self.root.mkdir(parents=True, exist_ok=True)

    def __repr__(self) -> str:
        return f"LocalArtifacts({str(self.root)!r})"

    def _path(self, key: str) -> Path:
        # validate_key forbids "..", absolute paths and backslashes, so the
        # joined path cannot leave root.
        return self.root.joinpath(*validate_key(key).split("/"))

    def _open(self, key: str) -> BinaryIO:
        path = self._path(key)
        try:
            handle = open(path, "rb")
        except (FileNotFoundError, NotADirectoryError, IsADirectoryError):
            raise ArtifactMissing(key) from None
        if not stat.S_ISREG(os.fstat(handle.fileno()).st_mode):
            handle.close()
            raise ArtifactMissing(key)
        return handle

    def _write_temp(self, folder: Path, name: str, write) -> None:
        fd, tmp = tempfile.mkstemp(dir=folder, prefix=f".{name}.", suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as handle:
                write(handle)
                handle.flush()
                os.fchmod(handle.fileno(), _FILE_MODE)
                os.fsync(handle.fileno())
            os.replace(tmp, folder / name)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        _fsync_dir(folder)

    def put_bytes(self, key: str, data: bytes) -> None:
        path = self._path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        self._write_temp(path.parent, path.name, lambda handle: handle.write(data))

    def put_file(self, key: str, path: Path) -> None:
        source = Path(path)
        if not source.is_file():
            raise FileNotFoundError(f"put_file: {source} is not a file")
        dest = self._path(key)
        dest.parent.mkdir(parents=True, exist_ok=True)
        # Sync the source before the rename publishes it, or a crash could leave
        # the final name pointing at a file whose data never reached the disk.
        with open(source, "rb") as handle:
            os.fsync(handle.fileno())
        try:
            os.replace(source, dest)
        except OSError as exc:
            if exc.errno != errno.EXDEV:
                raise
            # Different filesystem (e.g. a tmpfs scratch dir): copy, then drop the source.
            with open(source, "rb") as src:
                self._write_temp(
                    dest.parent, dest.name, lambda handle: shutil.copyfileobj(src, handle, 1024 * 1024)
                )
            source.unlink()
            return
        os.chmod(dest, _FILE_MODE)
        _fsync_dir(dest.parent)

    def get_bytes(self, key: str) -> bytes:
        with self._open(key) as handle:
            return handle.read()

    def size(self, key: str) -> int:
        with self._open(key) as handle:
            return os.fstat(handle.fileno()).st_size

    def read_range(self, key: str, start: int, end_inclusive: int) -> bytes:
        with self._open(key) as handle:
            end = check_range(key, os.fstat(handle.fileno()).st_size, start, end_inclusive)
            handle.seek(start)
            return handle.read(end - start + 1)

    def iter_range(
        self, key: str, start: int, end_inclusive: int, chunk: int = 256 * 1024
    ) -> Iterator[bytes]:
        if chunk < 1:
            raise ValueError("chunk must be positive")
        # Open and check now (not lazily in the generator) so a missing key or a
        # bad range raises before the caller commits to a response. The open
        # handle also pins this version of the file if it is replaced meanwhile.
        handle = self._open(key)
        try:
            end = check_range(key, os.fstat(handle.fileno()).st_size, start, end_inclusive)
        except BaseException:
            handle.close()
            raise
        return self._chunks(handle, start, end - start + 1, chunk)

    @staticmethod
    def _chunks(handle: BinaryIO, start: int, length: int, chunk: int) -> Iterator[bytes]:
        with handle:
            handle.seek(start)
            while length > 0:
                data = handle.read(min(chunk, length))
                if not data:
                    return  # the file was truncated under us; stop rather than spin
                length -= len(data)
                yield data

    def exists(self, key: str) -> bool:
        return self._path(key).is_file()

    def delete(self, key: str) -> bool:
        try:
            self._path(key).unlink()
        except FileNotFoundError:
            return False
        return True

    def delete_prefix(self, prefix: str) -> int:
        folder = self.root.joinpath(*validate_prefix(prefix).rstrip("/").split("/"))
        if not folder.is_dir():
            return 0
        # Temp files (".name.xxx.tmp") are removed too but are not keys, so not counted.
        count = sum(1 for p in folder.rglob("*") if p.is_file() and not p.name.startswith("."))
        shutil.rmtree(folder)
        return count

    def local_path(self, key: str) -> Path | None:
        path = self._path(key)
        if not path.is_file():
            raise ArtifactMissing(key)
        return path
