"""The cuti form and the surat izin belajar as real PDFs: text read back with pypdf, check marks
located on the page with PDFium, the QR code decoded from a rendering with zxing-cpp."""
from __future__ import annotations

import io
import re
from dataclasses import replace
from datetime import date

import pypdfium2 as pdfium
import pytest
import zxingcpp
from pypdf import PdfReader

from services.letters import (
    CODE_ALPHABET,
    CatatanCutiRow,
    CutiLetter,
    Decision,
    IzinBelajarLetter,
    LetterAgency,
    LetterEmployee,
    format_date,
    new_verification_code,
    normalize_code,
    render_cuti_letter,
    render_izin_belajar_letter,
)

AGENCY = LetterAgency(
    government="Pemerintah Kota Bekasi",
    name="Badan Kepegawaian dan Pengembangan Sumber Daya Manusia Kota Bekasi",
    short_name="BKPSDM Kota Bekasi",
    address="Jl. Ir. H. Juanda No. 100, Bekasi",
)
EMPLOYEE = LetterEmployee(
    nama="Dra. Siti Rahmawati, M.Si.", nip="198503122010012003",
    jabatan="Analis Sumber Daya Manusia Aparatur Ahli Muda", unit_kerja="Bidang Pengembangan Kompetensi",
    golongan="III/c", masa_kerja="15 tahun 2 bulan",
)
CODE = "K7QH-M2XP-9R"
HINT = f"Cek keaslian: kirim /verifikasi {CODE} ke @asnbot"


def cuti_letter(**changes: object) -> CutiLetter:
    base = CutiLetter(
        number="CUTI-2026-000012", issued_on=date(2027, 1, 5), agency=AGENCY, employee=EMPLOYEE,
        jenis_cuti="Cuti Tahunan", alasan="Keperluan keluarga di Yogyakarta.", lamanya="3 hari kerja",
        mulai=date(2027, 1, 12), selesai=date(2027, 1, 14),
        catatan_cuti=[CatatanCutiRow("N-2 (2025)", 0, "hangus"), CatatanCutiRow("N-1 (2026)", 4),
                      CatatanCutiRow("N (2027)", 12)],
        catatan_lain={"Cuti Besar": "belum pernah diambil"},
        alamat_selama_cuti="Jl. Malioboro No. 1, Yogyakarta", telepon="081234567890",
        pertimbangan_atasan=Decision("Budi Santoso, S.H.", "197001011995031001", date(2027, 1, 6),
                                     option="disetujui", jabatan="Kepala Bidang Pengembangan Kompetensi"),
        keputusan_pejabat=Decision("Ir. Hadi Wibowo", "196805051990031002", date(2027, 1, 7), option="perubahan",
                                   comment="Digeser satu minggu karena kegiatan akhir bulan.",
                                   jabatan="Sekretaris BKPSDM", acting_for="Plh. Kepala BKPSDM Kota Bekasi"),
        verify_code=CODE, verify_hint=HINT,
    )
    return replace(base, **changes)


def izin_letter(**changes: object) -> IzinBelajarLetter:
    base = IzinBelajarLetter(
        number="IB-2026-000003", issued_on=date(2027, 1, 12), agency=AGENCY, employee=EMPLOYEE, jenjang="S2",
        program_studi="Magister Administrasi Publik", perguruan_tinggi="Universitas Islam 45 Bekasi",
        akreditasi="Baik Sekali", jadwal="Sabtu, 08.00-17.00",
        decision=Decision("Ir. Hadi Wibowo", "196805051990031002", date(2027, 1, 12),
                          jabatan="Kepala BKPSDM Kota Bekasi"),
        verify_code=CODE, verify_hint=HINT, verify_url=f"https://asnbot.example/v/{CODE}",
    )
    return replace(base, **changes)


def text_of(pdf: bytes) -> str:
    return "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(pdf)).pages)


def flat(pdf: bytes) -> str:
    """Text with all whitespace runs as one space: a phrase may wrap across lines."""
    return " ".join(text_of(pdf).split())


def qr_values(pdf: bytes) -> list[str]:
    doc = pdfium.PdfDocument(pdf)
    try:
        return [b.text for b in zxingcpp.read_barcodes(doc[0].render(scale=3).to_pil())
                if b.format == zxingcpp.BarcodeFormat.QRCode]
    finally:
        doc.close()


def _boxes(textpage: pdfium.PdfTextPage, needle: str) -> list[tuple[int, tuple[float, float, float, float]]]:
    """(char index, (left, bottom, right, top)) of each occurrence of needle, in PDF points."""
    found, searcher = [], textpage.search(needle, match_case=True)
    while (hit := searcher.get_next()) is not None:
        start, count = hit
        left, bottom, _, top = textpage.get_charbox(start)
        right = textpage.get_charbox(start + count - 1)[2]
        found.append((start, (left, bottom, right, top)))
    return found


KIND_LABELS = ("Cuti Tahunan", "Cuti Besar", "Cuti Sakit", "Cuti Melahirkan", "Cuti Karena Alasan Penting",
               "Cuti di Luar Tanggungan Negara", "Cuti Bersama")
OPTION_LABELS = {"DISETUJUI": "disetujui", "PERUBAHAN": "perubahan", "DITANGGUHKAN": "ditangguhkan",
                 "TIDAK DISETUJUI": "tidak disetujui"}


def marks(pdf: bytes) -> dict[str, list[str]]:
    """What each check mark on page 1 marks, found by where it sits: a cuti kind when it is in the
    row of that kind's label, a decision option when it is under that option's column heading."""
    doc = pdfium.PdfDocument(pdf)
    tp = doc[0].get_textpage()
    kinds = [(name, box) for name in KIND_LABELS for _, box in _boxes(tp, name)]
    options = []
    for label, option in OPTION_LABELS.items():
        for index, box in _boxes(tp, label):
            if label == "DISETUJUI" and tp.get_text_range(max(0, index - 6), min(6, index)) == "TIDAK ":
                continue
            options.append((option, box))
    found: dict[str, list[str]] = {"kind": [], "decision": [], "other": []}
    for _, (left, bottom, right, top) in sorted(_boxes(tp, "\u2714"), key=lambda m: -m[1][3]):
        yc, xc = (bottom + top) / 2, (left + right) / 2
        row = [(name, box) for name, box in kinds if abs((box[1] + box[3]) / 2 - yc) < 4 and box[0] < left]
        above = [(opt, box) for opt, box in options if 0 < box[1] - top < 25]
        if row:
            found["kind"].append(max(row, key=lambda nb: nb[1][0])[0])
        elif above:
            found["decision"].append(min(above, key=lambda ob: abs((ob[1][0] + ob[1][2]) / 2 - xc))[0])
        else:
            found["other"].append(tp.get_text_bounded(0, bottom - 2, 1000, top + 2).strip())
    doc.close()
    return found


# --- cuti -----------------------------------------------------------------------------------

def test_cuti_letter_carries_the_form_content() -> None:
    pdf = render_cuti_letter(cuti_letter())
    assert pdf.startswith(b"%PDF")
    reader = PdfReader(io.BytesIO(pdf))
    assert len(reader.pages) == 1
    assert reader.metadata.title == "Formulir Permintaan dan Pemberian Cuti CUTI-2026-000012"
    assert reader.metadata.author == AGENCY.name
    text = flat(pdf)
    for expected in (
        "FORMULIR PERMINTAAN DAN PEMBERIAN CUTI", "Nomor: CUTI-2026-000012", "Bekasi, 5 Januari 2027",
        "Kepada Yth. Kepala BKPSDM Kota Bekasi di Bekasi",  # the office acted for, not the Plh's own
        "I. DATA PEGAWAI", "II. JENIS CUTI YANG DIAMBIL", "III. ALASAN CUTI", "IV. LAMANYA CUTI",
        "V. CATATAN CUTI", "VI. ALAMAT SELAMA MENJALANKAN CUTI", "VII. PERTIMBANGAN ATASAN LANGSUNG",
        "VIII. KEPUTUSAN PEJABAT YANG BERWENANG MEMBERIKAN CUTI",
        "Dra. Siti Rahmawati, M.Si.", "198503122010012003", "III/c", "15 tahun 2 bulan",
        "Keperluan keluarga di Yogyakarta.", "3 hari kerja", "12 Januari 2027", "14 Januari 2027",
        "N-2 (2025)", "hangus", "12 hari", "belum pernah diambil", "Jl. Malioboro No. 1, Yogyakarta", "081234567890",
        "Budi Santoso, S.H.", "NIP. 197001011995031001", "Ditetapkan melalui asnbot, 6 Januari 2027",
        "Plh. Kepala BKPSDM Kota Bekasi Ir. Hadi Wibowo NIP. 196805051990031002",
        "Catatan: Digeser satu minggu karena kegiatan akhir bulan.", "Ditetapkan melalui asnbot, 7 Januari 2027",
        f"Kode verifikasi: {CODE}", HINT,
    ):
        assert expected in text, expected
    assert "Cuti Bersama" not in text  # not on the BKN form unless it is the kind taken


def test_cuti_letter_marks_the_chosen_kind_and_options() -> None:
    found = marks(render_cuti_letter(cuti_letter()))
    assert found["kind"] == ["Cuti Tahunan"]
    assert found["decision"] == ["disetujui", "perubahan"]  # VII, then VIII
    assert len(found["other"]) == 1 and "Pilih salah satu" in found["other"][0]  # the footnote's own mark


@pytest.mark.parametrize(("jenis", "kind", "atasan", "pejabat"), [
    ("Cuti di Luar Tanggungan Negara", "Cuti di Luar Tanggungan Negara", "ditangguhkan", "tidak disetujui"),
    ("alasan-penting", "Cuti Karena Alasan Penting", "perubahan", "disetujui"),
    ("cuti sakit", "Cuti Sakit", "tidak disetujui", "ditangguhkan"),
])
def test_other_choices_are_marked_where_they_belong(jenis: str, kind: str, atasan: str, pejabat: str) -> None:
    letter = cuti_letter(
        jenis_cuti=jenis,
        pertimbangan_atasan=replace(cuti_letter().pertimbangan_atasan, option=atasan),
        keputusan_pejabat=replace(cuti_letter().keputusan_pejabat, option=pejabat),
    )
    found = marks(render_cuti_letter(letter))
    assert found["kind"] == [kind]
    assert found["decision"] == [atasan, pejabat]


def test_cuti_bersama_gets_its_own_row_only_when_taken() -> None:
    pdf = render_cuti_letter(cuti_letter(jenis_cuti="Cuti Bersama"))
    assert "7. Cuti Bersama" in flat(pdf)
    assert marks(pdf)["kind"] == ["Cuti Bersama"]


def test_non_pns_without_atasan_step() -> None:
    employee = replace(EMPLOYEE, nama="Andi Pratama", nip=None, nomor="NP-2024-0042", golongan=None, masa_kerja="")
    pdf = render_cuti_letter(cuti_letter(employee=employee, pertimbangan_atasan=None))
    text = flat(pdf)
    assert "Nomor NP-2024-0042" in text and "Nomor. NP-2024-0042" in text
    assert "Gol. Ruang" not in text
    assert "Tidak melalui pertimbangan atasan langsung." in text
    assert marks(pdf)["decision"] == ["perubahan"]  # only VIII has a mark


def test_hostile_text_is_printed_literally() -> None:
    nasty = "O'Neil & Sons <x> </para><b>bold</b> &amp; \"q\" Çağrı Łukasz 王 😀 a\x00b"
    employee = replace(EMPLOYEE, nama=nasty, jabatan="<font name='Nope'>x</font>", unit_kerja="A & B")
    long_reason = "Mendampingi orang tua berobat & kontrol rutin <rumah sakit>. " * 120  # ~7,000 chars
    letter = cuti_letter(employee=employee, alasan=long_reason, alamat_selama_cuti="Jl. A\nRT 01/RW 02\r\nBekasi",
                         keputusan_pejabat=replace(cuti_letter().keputusan_pejabat, name="Dr. <b>Hadi</b> & Co"))
    pdf = render_cuti_letter(letter)
    text = flat(pdf)
    assert pdf.startswith(b"%PDF")
    assert "O'Neil & Sons <x> </para><b>bold</b> &amp; \"q\" Çagri Lukasz ? ? ab" in text
    assert "<font name='Nope'>x</font>" in text
    assert "Dr. <b>Hadi</b> & Co" in text
    assert "kontrol rutin <rumah sakit>." in text and "RT 01/RW 02" in text
    assert len(PdfReader(io.BytesIO(pdf)).pages) >= 2  # the long reason flows on, nothing is cut
    ib = render_izin_belajar_letter(izin_letter(employee=employee, program_studi="S&P <500>"))
    assert "S&P <500>" in flat(ib) and "O'Neil & Sons <x>" in flat(ib)


def test_qr_holds_the_url_or_else_the_hint() -> None:
    assert qr_values(render_cuti_letter(cuti_letter())) == [HINT]
    url = f"https://asnbot.example/v/{CODE}"
    assert qr_values(render_cuti_letter(cuti_letter(verify_url=url))) == [url]


def test_same_input_same_bytes() -> None:
    assert render_cuti_letter(cuti_letter()) == render_cuti_letter(cuti_letter())
    assert render_izin_belajar_letter(izin_letter()) == render_izin_belajar_letter(izin_letter())
    assert render_cuti_letter(cuti_letter()) != render_cuti_letter(cuti_letter(verify_code="AAAA-BBBB-CC"))


def test_decision_option_must_be_one_of_the_four_boxes() -> None:
    with pytest.raises(ValueError):
        Decision("X", None, date(2027, 1, 1), option="setuju")


# --- izin belajar ---------------------------------------------------------------------------

def test_izin_belajar_letter() -> None:
    pdf = render_izin_belajar_letter(izin_letter())
    assert pdf.startswith(b"%PDF")
    reader = PdfReader(io.BytesIO(pdf))
    assert len(reader.pages) == 1
    assert reader.metadata.title == "Surat Izin Belajar IB-2026-000003"
    assert reader.metadata.author == AGENCY.name
    text = flat(pdf)
    for expected in (
        "PEMERINTAH KOTA BEKASI", "SURAT IZIN BELAJAR", "Nomor: IB-2026-000003",
        "hasil verifikasi BKPSDM Kota Bekasi", "Dra. Siti Rahmawati, M.Si.", "198503122010012003", "III/c",
        "S2", "Magister Administrasi Publik", "Universitas Islam 45 Bekasi", "Baik Sekali", "Sabtu, 08.00-17.00",
        "biaya sendiri", "di luar jam kerja", "tidak mengganggu pelaksanaan tugas kedinasan",
        "tidak serta-merta memberikan hak untuk kenaikan pangkat atau penyesuaian ijazah",
        "Ditetapkan di Bekasi pada tanggal 12 Januari 2027", "Kepala BKPSDM Kota Bekasi Ir. Hadi Wibowo",
        "NIP. 196805051990031002", "Ditetapkan melalui asnbot, 12 Januari 2027", f"Kode verifikasi: {CODE}", HINT,
    ):
        assert expected in text, expected
    assert "Pasal" not in text  # the conditions cite no invented article numbers
    assert qr_values(pdf) == [f"https://asnbot.example/v/{CODE}"]


def test_izin_belajar_acting_signer_and_non_pns() -> None:
    decision = replace(izin_letter().decision, jabatan="Sekretaris BKPSDM", acting_for="Plh. Kepala BKPSDM Kota Bekasi")
    employee = replace(EMPLOYEE, nip=None, nomor="NP-7", golongan=None)
    pdf = render_izin_belajar_letter(izin_letter(decision=decision, employee=employee, verify_url=None))
    text = flat(pdf)
    assert "Plh. Kepala BKPSDM Kota Bekasi Ir. Hadi Wibowo" in text
    assert "Nomor : NP-7" in text and "Pangkat/Golongan" not in text
    assert qr_values(pdf) == [HINT]


# --- codes and dates ------------------------------------------------------------------------

def test_dates_in_indonesian() -> None:
    assert format_date(date(2027, 1, 12)) == "12 Januari 2027"
    assert [format_date(date(2027, m, 1)).split()[1] for m in range(1, 13)] == [
        "Januari", "Februari", "Maret", "April", "Mei", "Juni", "Juli", "Agustus", "September", "Oktober",
        "November", "Desember"]


def test_codes_are_well_formed_and_unique() -> None:
    codes = [new_verification_code() for _ in range(10_000)]
    assert len(set(codes)) == len(codes)
    assert all(re.fullmatch(r"[0-9A-Z]{4}-[0-9A-Z]{4}-[0-9A-Z]{2}", c) for c in codes)
    assert not set("".join(codes)) - set(CODE_ALPHABET) - {"-"}
    assert not set("".join(codes)) & set("ILOU")
    assert set("".join(codes)) == set(CODE_ALPHABET) | {"-"}  # every symbol gets used


def test_normalize_code_accepts_what_people_type() -> None:
    for code in [new_verification_code() for _ in range(500)] + ["K7QH-M2XP-9R", "1000-0001-10"]:
        assert normalize_code(code) == code
        raw = code.replace("-", "")
        assert normalize_code(raw.lower()) == code
        assert normalize_code(" ".join(raw)) == code
        assert normalize_code(f"  {raw[:3]} - {raw[3:7]}_{raw[7:]}\n") == code
        misread = raw.replace("0", "O").replace("1", "I")
        assert normalize_code(misread.lower()) == code
        assert normalize_code(raw.replace("1", "l")) == code
    assert normalize_code("ｋ７ｑｈ－ｍ２ｘｐ－９ｒ") == "K7QH-M2XP-9R"  # full-width keyboard


@pytest.mark.parametrize("garbage", [
    "", "   ", "K7QH-M2XP", "K7QH-M2XP-9RR", "K7QH-M2XP-9U", "K7QH-M2XP-9!", "K7QH-M2XP-9É", "/verifikasi",
    "K7QH-M2XP-9R; DROP TABLE", None, 12345,
])
def test_normalize_code_rejects_garbage(garbage: object) -> None:
    assert normalize_code(garbage) is None  # type: ignore[arg-type]
