"""The drop folder: listing, reading and moving report files, and the only module that imports openpyxl.

A report file goes from the inbox either to `processed/` (loaded) or to `quarantine/` with a
`<file>.errors.txt` beside it. Folder problems are translated here into the hub's error tree;
problems of one file's content (encoding, a corrupt workbook, the size) are a TemplateError,
which quarantines that file and lets the next one load.
"""

from __future__ import annotations

import csv
import datetime as dt
import errno
import hashlib
import io
import shutil
import time
import uuid
import zipfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from connectors.dealer_files.template import Cells, file_problem
from hub.core.errors import HubError, SourceAuthError, SourceUnavailable

SUFFIXES = (".csv", ".xlsx")
# What zipfile and openpyxl raise on a damaged workbook: broken zip or deflate data, XML that does
# not parse (ElementTree's and lxml's errors are SyntaxErrors), and parts that are missing, point
# nowhere or hold values of the wrong type.
DAMAGED_WORKBOOK = (zipfile.BadZipFile, zlib.error, EOFError, SyntaxError, LookupError, ValueError, TypeError,
                    AttributeError, ArithmeticError, OSError)
MAX_UNZIPPED_BYTES = 200_000_000  # an XLSX is a zip: refuse one that would inflate beyond this
CSV_DELIMITERS = (",", "\t", ";")
CHINA = dt.timezone(dt.timedelta(hours=8))
SETTINGS = {"inbox": "HUB_DEALER_FILES__INBOX", "quarantine": "HUB_DEALER_FILES__QUARANTINE",
            "processed": "HUB_DEALER_FILES__PROCESSED"}


@dataclass(frozen=True, slots=True)
class DroppedFile:
    """A report file waiting in the inbox."""

    path: Path
    size: int
    modified: float  # seconds since the epoch

    @property
    def name(self) -> str:
        """The file name, as the sender chose it."""
        return self.path.name

    def received_at(self) -> str:
        """When the file arrived (its modification time), China time, ISO 8601 with offset."""
        return dt.datetime.fromtimestamp(self.modified, CHINA).isoformat(timespec="seconds")


class DropFolder:
    """The inbox, quarantine and processed folders of the dealer reports."""

    def __init__(self, inbox: Path, quarantine: Path, processed: Path, *,
                 max_file_bytes: int = 20_000_000) -> None:
        self.folders = {"inbox": Path(inbox), "quarantine": Path(quarantine), "processed": Path(processed)}
        self.max_file_bytes = max_file_bytes

    # ----------------------------------------------------------------------------------- folders

    def check(self) -> None:
        """Every folder exists and can be written to; the error names the setting to fix."""
        for role, folder in self.folders.items():
            self._check_folder(role, folder)

    def _check_folder(self, role: str, folder: Path) -> None:
        if not folder.is_dir():
            what = "is not a folder" if folder.exists() else "does not exist"
            raise SourceUnavailable(f"dealer {role} folder {folder} {what}; create it (or mount the share) "
                                    f"or fix {SETTINGS[role]}")
        probe = folder / f".hub-write-check-{uuid.uuid4().hex[:8]}"
        try:
            probe.write_bytes(b"")
            probe.unlink()
        except OSError as exc:
            raise self._translate(exc, f"write to the dealer {role} folder {folder}", role) from None

    def pending(self, settle_s: float = 0.0) -> list[DroppedFile]:
        """Report files in the inbox, oldest first; files younger than `settle_s` may still be uploading."""
        inbox = self.folders["inbox"]
        try:
            entries = [self._dropped(p) for p in inbox.iterdir() if _is_report(p)]
        except OSError as exc:
            raise self._translate(exc, f"list the dealer inbox {inbox}", "inbox") from None
        settled = time.time() - settle_s
        return sorted((f for f in entries if f.modified <= settled), key=lambda f: (f.modified, f.name))

    def read(self, dropped: DroppedFile) -> bytes:
        """The file's bytes; a file over the size limit is a TemplateError (quarantined)."""
        if dropped.size > self.max_file_bytes:
            limit = self.max_file_bytes
            raise file_problem(f"文件超过 {limit} 字节", f"file larger than {limit} bytes")
        try:
            return dropped.path.read_bytes()
        except OSError as exc:
            raise self._translate(exc, f"read {dropped.name} in the dealer inbox", "inbox") from None

    def archive(self, dropped: DroppedFile, digest: str) -> Path:
        """Move a loaded (or already loaded) file to processed/."""
        return self._move(dropped, "processed", digest)

    def quarantine(self, dropped: DroppedFile, digest: str, errors: list[str]) -> Path:
        """Move a bad file to quarantine/ and write its errors beside it as `<file>.errors.txt`."""
        target = self._move(dropped, "quarantine", digest)
        report = target.with_name(target.name + ".errors.txt")
        count = len(errors)
        title = f"{dropped.name}: 未导入，共 {count} 个问题 (not loaded, {count} problem(s))"
        text = "\n".join([title, *errors, ""])
        try:
            report.write_text(text, encoding="utf-8-sig")  # a BOM, so Excel and Notepad show the Chinese
        except OSError as exc:
            raise self._translate(exc, f"write {report.name}", "quarantine") from None
        return target

    def _move(self, dropped: DroppedFile, role: str, digest: str) -> Path:
        target = self.folders[role] / dropped.name
        if target.exists():  # a second file of that name: keep both, told apart by their content hash
            target = target.with_name(f"{target.stem}.{digest[:12]}{target.suffix}")
        try:
            shutil.move(str(dropped.path), str(target))
        except OSError as exc:
            action = f"move {dropped.name} to the dealer {role} folder"
            folders_there = self.folders[role].is_dir() and dropped.path.parent.is_dir()
            if isinstance(exc, FileNotFoundError) and folders_there:
                raise SourceUnavailable(f"could not {action}: it vanished from the inbox (is another process "
                                        "taking files from it?)") from None
            blamed = role if dropped.path.parent.is_dir() else "inbox"
            raise self._translate(exc, action, blamed) from None
        return target

    def _dropped(self, path: Path) -> DroppedFile:
        stat = path.stat()
        return DroppedFile(path, stat.st_size, stat.st_mtime)

    # ------------------------------------------------------------------------------- error table

    def _translate(self, exc: OSError, action: str, role: str) -> HubError:
        """PermissionError → SourceAuthError; a missing folder or I/O failure → SourceUnavailable."""
        if isinstance(exc, PermissionError):
            return SourceAuthError(f"no permission to {action} ({self.folders[role]}); fix the folder's "
                                   f"permissions or {SETTINGS[role]}")
        if isinstance(exc, FileNotFoundError | NotADirectoryError):
            return SourceUnavailable(f"could not {action}: the folder {self.folders[role]} is gone; "
                                     f"check {SETTINGS[role]} and the share")
        return SourceUnavailable(f"could not {action} ({errno.errorcode.get(exc.errno or 0, 'I/O error')})")


def sha256(data: bytes) -> str:
    """The content hash a file is remembered by."""
    return hashlib.sha256(data).hexdigest()


def _is_report(path: Path) -> bool:
    name = path.name
    return (path.suffix.lower() in SUFFIXES and not name.startswith((".", "~$")) and path.is_file())


# ----------------------------------------------------------------------------------------- reading


def read_cells(name: str, data: bytes) -> Iterator[Cells]:
    """The rows of a CSV (UTF-8, UTF-8 with BOM, or GBK) or XLSX (first sheet) as (row number, values)."""
    if name.lower().endswith(".xlsx"):
        return _xlsx_cells(data)
    return _csv_cells(_decode(data))


def _decode(data: bytes) -> str:
    """UTF-8 (a BOM is dropped), else GB18030 (a superset of GBK and GB2312)."""
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    for encoding in ("utf-8", "gb18030"):
        try:
            return data.decode(encoding)
        except UnicodeDecodeError:
            continue
    raise file_problem("无法识别文件编码，请另存为 UTF-8 或 GBK 的 CSV", "encoding is neither UTF-8 nor GBK")


def _csv_cells(text: str) -> Iterator[Cells]:
    first = text.split("\n", 1)[0]
    delimiter = max(CSV_DELIMITERS, key=first.count)
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    try:
        for row in reader:
            yield reader.line_num, list(row)
    except csv.Error:
        raise file_problem("CSV 格式错误（引号不配对？）", "malformed CSV (unbalanced quotes?)") from None


def _xlsx_cells(data: bytes) -> Iterator[Cells]:
    """The first sheet's values, in openpyxl's read-only mode; a corrupt workbook is a TemplateError."""
    import openpyxl
    from openpyxl.utils.exceptions import InvalidFileException

    _refuse_zip_bomb(data)
    try:
        book = openpyxl.load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except (InvalidFileException, *DAMAGED_WORKBOOK):
        raise file_problem("不是有效的 XLSX 文件", "not a valid XLSX workbook") from None
    try:
        sheet = book.worksheets[0]
        for number, values in enumerate(sheet.iter_rows(values_only=True), start=1):
            yield number, list(values)
    except DAMAGED_WORKBOOK as exc:
        raise file_problem("XLSX 文件已损坏", f"damaged XLSX workbook ({type(exc).__name__})") from None
    finally:
        book.close()


def _refuse_zip_bomb(data: bytes) -> None:
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            inflated = sum(info.file_size for info in archive.infolist())
    except DAMAGED_WORKBOOK:
        raise file_problem("不是有效的 XLSX 文件", "not a valid XLSX workbook") from None
    if inflated > MAX_UNZIPPED_BYTES:
        raise file_problem("XLSX 文件解压后过大", "XLSX workbook inflates beyond the size limit")
