"""services/files.py against real files in a temporary directory."""
from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest

from services.files import FileRejected, StoredBlob, format_size, read, sniff, store

MB = 1024 * 1024
PDF = b"%PDF-1.4\n1 0 obj\n<< /Type /Catalog >>\nendobj\ntrailer\n%%EOF\n"
JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00" + b"\x00" * 64 + b"\xff\xd9"
PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + b"\x00\x00\x00\x01" * 2 + b"\x08\x02\x00\x00\x00"


def blob_files(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.is_file())


def test_sniff_by_magic_bytes_not_by_name() -> None:
    assert sniff(PDF) == "application/pdf"
    assert sniff(JPEG) == "image/jpeg"
    assert sniff(PNG) == "image/png"
    assert sniff(b"") is None
    assert sniff(b"Surat Keputusan, bukan PDF") is None
    assert sniff(b"GIF89a\x01\x00") is None
    assert sniff(b"PK\x03\x04word/document.xml") is None  # a .docx
    assert sniff(b" %PDF-1.4") is None  # the signature must be at the start


@pytest.mark.parametrize(
    ("content", "name", "mime", "ext"),
    [
        (PDF, "SK Pangkat.pdf", "application/pdf", ".pdf"),
        (JPEG, "foto.jpeg", "image/jpeg", ".jpg"),
        (PNG, "scan.PNG", "image/png", ".png"),
        (JPEG, "ijazah.pdf", "image/jpeg", ".jpg"),  # misnamed but allowed: the bytes decide
        (PDF, None, "application/pdf", ".pdf"),
    ],
)
def test_accepts_allowed_types(
    tmp_path: Path, content: bytes, name: str | None, mime: str, ext: str
) -> None:
    blob = store(content, root=tmp_path, claimed_name=name)
    sha = hashlib.sha256(content).hexdigest()
    assert blob == StoredBlob(
        sha256=sha, size=len(content), mime=mime, path=f"{sha[:2]}/{sha}{ext}", ext=ext
    )
    on_disk = tmp_path / sha[:2] / f"{sha}{ext}"
    assert on_disk.read_bytes() == content
    assert blob_files(tmp_path) == [on_disk]  # no temporary file left behind
    assert read(tmp_path, blob.path) == content


def test_rejects_text_named_pdf(tmp_path: Path) -> None:
    with pytest.raises(FileRejected) as caught:
        store(b"ini hanya teks biasa\n", root=tmp_path, claimed_name="sk.pdf")
    assert caught.value.code == "wrong_type"
    assert caught.value.message == "Berkas harus berupa PDF atau foto (JPG/PNG)."
    assert str(caught.value) == caught.value.message
    assert blob_files(tmp_path) == []


def test_rejects_a_type_not_in_allowed(tmp_path: Path) -> None:
    with pytest.raises(FileRejected) as caught:
        store(PNG, root=tmp_path, claimed_name="a.png", allowed=("application/pdf",))
    assert caught.value.message == "Berkas harus berupa PDF."
    with pytest.raises(FileRejected) as caught:
        store(PDF, root=tmp_path, claimed_name="a.pdf", allowed=("image/jpeg", "image/png"))
    assert caught.value.message == "Berkas harus berupa foto (JPG/PNG)."
    assert blob_files(tmp_path) == []


def test_rejects_empty(tmp_path: Path) -> None:
    with pytest.raises(FileRejected) as caught:
        store(b"", root=tmp_path, claimed_name="kosong.pdf")
    assert caught.value.code == "empty"
    assert "kosong" in caught.value.message.lower()


def test_rejects_oversize_with_indonesian_size(tmp_path: Path) -> None:
    content = PDF + b"\x00" * (int(7.2 * MB) - len(PDF))
    with pytest.raises(FileRejected) as caught:
        store(content, root=tmp_path, claimed_name="besar.pdf")
    assert caught.value.code == "too_big"
    assert caught.value.message == "Ukuran berkas paling besar 5 MB; berkas Anda 7,2 MB."
    assert blob_files(tmp_path) == []


def test_size_limit_is_inclusive_and_one_byte_over_never_reads_as_the_limit(
    tmp_path: Path,
) -> None:
    exact = PDF + b"\x00" * (5 * MB - len(PDF))
    assert store(exact, root=tmp_path, claimed_name="pas.pdf").size == 5 * MB
    with pytest.raises(FileRejected) as caught:
        store(exact + b"\x00", root=tmp_path, claimed_name="lebih.pdf")
    assert caught.value.message == "Ukuran berkas paling besar 5 MB; berkas Anda 5,1 MB."


def test_format_size() -> None:
    assert format_size(5 * MB) == "5 MB"
    assert format_size(int(7.21 * MB), round_up=True) == "7,3 MB"
    assert format_size(12 * MB) == "12 MB"
    assert format_size(300 * 1024) == "300 KB"
    assert format_size(10) == "1 KB"


def test_same_content_is_stored_once(tmp_path: Path) -> None:
    first = store(PDF, root=tmp_path, claimed_name="a.pdf")
    path = tmp_path / first.path
    stamp = path.stat().st_mtime_ns
    os.utime(path, ns=(stamp - 10**9, stamp - 10**9))  # would change if rewritten
    second = store(PDF, root=tmp_path, claimed_name="salinan.pdf")
    assert second == first
    assert path.stat().st_mtime_ns == stamp - 10**9
    third = store(PNG, root=tmp_path, claimed_name="a.png")
    assert third.path != first.path
    assert len(blob_files(tmp_path)) == 2


def test_read_refuses_paths_escaping_root(tmp_path: Path) -> None:
    root = tmp_path / "blobs"
    blob = store(PDF, root=root, claimed_name="a.pdf")
    secret = tmp_path / "secret.txt"
    secret.write_bytes(b"rahasia")
    for bad in ("../secret.txt", f"{blob.path[:2]}/../../secret.txt", str(secret), "."):
        with pytest.raises(ValueError):
            read(root, bad)
    (root / "link").symlink_to(secret)
    with pytest.raises(ValueError):
        read(root, "link")
    with pytest.raises(FileNotFoundError):
        read(root, "00/" + "0" * 64 + ".pdf")
    assert read(root, blob.path) == PDF
