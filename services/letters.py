"""Official letters as PDF (pure: no DB, no bot): the BKN cuti form and the surat izin belajar.

The cuti letter follows the "Formulir Permintaan dan Pemberian Cuti" of the Peraturan BKN 24/2017
annex, section by section. Both letters are decided through the bot, so each signer block
prints the actor's name, NIP and date with "ditetapkan melalui asnbot" instead of a wet
signature, and the footer carries a QR code and a short verification code for the paper.

Only the built-in PDF fonts are used (Helvetica, ZapfDingbats for the check mark), so no font
files have to ship; text those fonts cannot show is transliterated (see _pdf_text)."""
from __future__ import annotations

import io
import re
import secrets
import unicodedata
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date
from itertools import zip_longest
from xml.sax.saxutils import escape

from reportlab.graphics import renderPDF
from reportlab.graphics.barcode.qr import QrCodeWidget
from reportlab.graphics.shapes import Drawing
from reportlab.lib import colors
from reportlab.lib.enums import TA_CENTER, TA_JUSTIFY
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm
from reportlab.pdfgen.canvas import Canvas
from reportlab.platypus import Flowable, KeepTogether, Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle

# --- verification code ---------------------------------------------------------------------

# Crockford's base32 alphabet: no I, L, O (read as 1, 1, 0) and no U. The code on paper is
# typed back by a person, so normalize_code folds the usual misreadings onto this alphabet
# instead of rejecting them. 10 symbols = 50 random bits.
CODE_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
CODE_LENGTH = 10
_CODE_GROUPS = (4, 4, 2)
_CONFUSABLE = str.maketrans({"O": "0", "I": "1", "L": "1"})
_SEPARATORS = re.compile(r"[\s\-_.]+")


def _group(raw: str) -> str:
    parts, start = [], 0
    for size in _CODE_GROUPS:
        parts.append(raw[start:start + size])
        start += size
    return "-".join(parts)


def new_verification_code() -> str:
    """A random code like "K7QH-M2XP-9R" for printing on a letter."""
    return _group("".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH)))


def normalize_code(text: str | None) -> str | None:
    """The canonical code for what a person typed (any case, spaces or dashes anywhere or none,
    O for 0, I or L for 1), or None when it cannot be a code."""
    if not isinstance(text, str):
        return None
    raw = _SEPARATORS.sub("", unicodedata.normalize("NFKC", text)).upper().translate(_CONFUSABLE)
    if len(raw) != CODE_LENGTH or any(ch not in CODE_ALPHABET for ch in raw):
        return None
    return _group(raw)


# --- Indonesian dates ----------------------------------------------------------------------

_MONTHS = ("Januari", "Februari", "Maret", "April", "Mei", "Juni", "Juli", "Agustus", "September",
           "Oktober", "November", "Desember")


def format_date(d: date) -> str:
    """12 Januari 2027."""
    return f"{d.day} {_MONTHS[d.month - 1]} {d.year}"


# --- content -------------------------------------------------------------------------------

@dataclass(frozen=True)
class LetterAgency:
    government: str  # "Pemerintah Kota Bekasi"
    name: str  # "Badan Kepegawaian dan Pengembangan Sumber Daya Manusia Kota Bekasi"
    short_name: str = ""  # "BKPSDM Kota Bekasi"; the verifying body in the izin belajar text
    address: str = ""  # printed under the letterhead when given
    city: str = ""  # place of issue; derived from government when empty ("Bekasi")

    @property
    def place(self) -> str:
        if self.city:
            return self.city
        return re.sub(r"^(pemerintah\s+)?(kota|kabupaten|provinsi)\s+", "", self.government.strip(),
                      flags=re.IGNORECASE) or self.government


@dataclass(frozen=True)
class LetterEmployee:
    nama: str  # with academic titles, as it should be printed
    nip: str | None  # None for Non-PNS: nomor is printed instead
    jabatan: str
    unit_kerja: str
    golongan: str | None = None  # "III/a"; None for Non-PNS
    masa_kerja: str = ""  # "12 tahun 3 bulan"
    nomor: str | None = None  # Non-PNS number, used when nip is None

    @property
    def id_label(self) -> str:
        return "NIP" if self.nip else "Nomor"

    @property
    def id_value(self) -> str:
        return self.nip or self.nomor or "-"


DECISION_OPTIONS = ("disetujui", "perubahan", "ditangguhkan", "tidak disetujui")


@dataclass(frozen=True)
class Decision:
    """Who decided, and for the cuti form which of the four boxes."""
    name: str
    nip: str | None
    decided_on: date
    option: str | None = None  # one of DECISION_OPTIONS (cuti form only)
    comment: str = ""  # reason for perubahan / ditangguhkan / tidak disetujui
    jabatan: str | None = None  # the signer's position
    acting_for: str | None = None  # "Plh. Kepala Dinas ...": printed above the name as given

    def __post_init__(self) -> None:
        if self.option is not None and self.option not in DECISION_OPTIONS:
            raise ValueError(f"option must be one of {DECISION_OPTIONS}, not {self.option!r}")


@dataclass(frozen=True)
class CatatanCutiRow:
    tahun: str  # "N-2 (2024)"
    sisa: int | None
    keterangan: str = ""


# The six kinds on the BKN form, in its order; (code as in services.cuti.rules, printed name).
CUTI_KINDS = (
    ("tahunan", "Cuti Tahunan"),
    ("besar", "Cuti Besar"),
    ("sakit", "Cuti Sakit"),
    ("melahirkan", "Cuti Melahirkan"),
    ("alasan-penting", "Cuti Karena Alasan Penting"),
    ("cltn", "Cuti di Luar Tanggungan Negara"),
)
_EXTRA_KIND_NAMES = {"bersama": "Cuti Bersama"}


@dataclass(frozen=True)
class CutiLetter:
    number: str  # "CUTI-2026-000012"
    issued_on: date
    agency: LetterAgency
    employee: LetterEmployee
    jenis_cuti: str  # "Cuti Tahunan" (or the code "tahunan"); a kind not on the form gets a row
    alasan: str
    lamanya: str  # "3 hari kerja"
    mulai: date
    selesai: date
    alamat_selama_cuti: str
    telepon: str
    verify_code: str
    verify_hint: str  # "Cek keaslian: kirim /verifikasi K7QH-M2XP-9R ke @asnbot"
    catatan_cuti: Sequence[CatatanCutiRow] = ()  # cuti tahunan, N-2 / N-1 / N
    catatan_lain: dict[str, str] = field(default_factory=dict)  # "Cuti Besar" -> keterangan
    pertimbangan_atasan: Decision | None = None  # None: no atasan langsung step
    keputusan_pejabat: Decision | None = None
    kepada: str | None = None  # addressee; default: the office of keputusan_pejabat (acting_for less "Plh.", else jabatan)
    submitted_on: date | None = None  # printed under the employee's name; defaults to issued_on
    verify_url: str | None = None  # goes into the QR when given, else the hint does


@dataclass(frozen=True)
class IzinBelajarLetter:
    number: str
    issued_on: date
    agency: LetterAgency
    employee: LetterEmployee
    jenjang: str  # "S1"
    program_studi: str
    perguruan_tinggi: str
    akreditasi: str
    jadwal: str  # "Sabtu-Minggu, 08.00-16.00"
    decision: Decision  # name, nip, jabatan, decided_on, acting_for
    verify_code: str
    verify_hint: str
    verify_url: str | None = None


# --- text helpers --------------------------------------------------------------------------

_FALLBACK = {"ı": "i", "ł": "l", "Ł": "L", "đ": "d", "Đ": "D", "ß": "ss", "ħ": "h", "ŀ": "l",
             "\u2212": "-", "\u2010": "-", "\u2011": "-"}


def _pdf_char(ch: str) -> str:
    try:
        ch.encode("cp1252")  # what the built-in fonts can show
        return ch
    except UnicodeEncodeError:
        pass
    if ch in _FALLBACK:
        return _FALLBACK[ch]
    base = "".join(c for c in unicodedata.normalize("NFKD", ch) if not unicodedata.combining(c))
    try:
        base.encode("cp1252")
        return base
    except UnicodeEncodeError:
        return "?"


def _pdf_text(value: object) -> str:
    """Plain text -> Paragraph markup: showable by the built-in fonts, markup characters escaped,
    line breaks kept."""
    text = "" if value is None else str(value)
    text = "".join(_pdf_char(ch) for ch in text.replace("\r\n", "\n"))
    text = "".join(ch for ch in text if ch == "\n" or ch == "\t" or unicodedata.category(ch) != "Cc")
    return escape(text).replace("\n", "<br/>")


_BASE = ParagraphStyle("base", fontName="Helvetica", fontSize=8.5, leading=10.5)
_SMALL = ParagraphStyle("small", parent=_BASE, fontSize=7, leading=8.5)
_BOLD = ParagraphStyle("bold", parent=_BASE, fontName="Helvetica-Bold")
_CENTER = ParagraphStyle("center", parent=_BASE, alignment=TA_CENTER)
_CENTER_BOLD = ParagraphStyle("center_bold", parent=_BOLD, alignment=TA_CENTER)
_TITLE = ParagraphStyle("title", parent=_BOLD, fontSize=11, leading=14, alignment=TA_CENTER)
_BODY = ParagraphStyle("body", parent=_BASE, fontSize=10, leading=13.5, alignment=TA_JUSTIFY)
_BODY_PLAIN = ParagraphStyle("body_plain", parent=_BASE, fontSize=10, leading=13.5)
_CHECK = ParagraphStyle("check", parent=_CENTER, fontName="ZapfDingbats", fontSize=10, leading=11)
CHECK_GLYPH = "\u2714"  # heavy check mark; reportlab maps it to ZapfDingbats a20

_PAGE_W, _PAGE_H = A4
_MARGIN = 15 * mm
_FOOTER_H = 30 * mm  # reserved at the bottom of every page for the QR footer
_W = _PAGE_W - 2 * _MARGIN


def _p(text: object, style: ParagraphStyle = _BASE) -> Paragraph:
    return Paragraph(_pdf_text(text), style)


def _pm(markup: str, style: ParagraphStyle = _BASE) -> Paragraph:
    """A Paragraph from markup built here; every piece of data in it went through _pdf_text."""
    return Paragraph(markup, style)


def _check(on: bool) -> Paragraph:
    return Paragraph(CHECK_GLYPH if on else "", _CHECK)


def _grid(rows: list[list[object]], widths: Sequence[float], extra: Sequence[tuple] = (), repeat: int = 0) -> Table:
    table = Table(rows, colWidths=[w * _W for w in widths], splitInRow=1, repeatRows=repeat)
    table.setStyle(TableStyle([
        ("GRID", (0, 0), (-1, -1), 0.5, colors.black),
        ("VALIGN", (0, 0), (-1, -1), "TOP"),
        ("LEFTPADDING", (0, 0), (-1, -1), 3),
        ("RIGHTPADDING", (0, 0), (-1, -1), 3),
        ("TOPPADDING", (0, 0), (-1, -1), 1.5),
        ("BOTTOMPADDING", (0, 0), (-1, -1), 2.5),
        *extra,
    ]))
    return table


def _section(title: str, rows: list[list[object]], widths: Sequence[float], extra: Sequence[tuple] = ()) -> Table:
    """A form section: a bold heading row across the full width, then its rows."""
    head = [_pm(f"<b>{title}</b>")] + [""] * (len(widths) - 1)
    return _grid([head, *rows], widths,
                 [("SPAN", (0, 0), (-1, 0)), *[(cmd[0], _shift(cmd[1]), _shift(cmd[2]), *cmd[3:]) for cmd in extra]],
                 repeat=1)  # a section split over two pages keeps its heading


def _shift(cell: tuple[int, int]) -> tuple[int, int]:
    col, row = cell
    return (col, row + 1 if row >= 0 else row)


def _signer(decision: Decision, *, verb: str = "Ditetapkan", show_jabatan: bool = True) -> Paragraph:
    lines = []
    if decision.acting_for:
        lines.append(f"<b>{_pdf_text(decision.acting_for)}</b>")
    elif show_jabatan and decision.jabatan:
        lines.append(f"<b>{_pdf_text(decision.jabatan)}</b>")
    lines.append(f"<b>{_pdf_text(decision.name)}</b>")
    if decision.nip:
        lines.append(f"NIP. {_pdf_text(decision.nip)}")
    lines.append(f"<font size='7'>{verb} melalui asnbot, {format_date(decision.decided_on)}</font>")
    return _pm("<br/>".join(lines))


# --- footer with the QR code ---------------------------------------------------------------

def _qr_drawing(value: str, size: float) -> Drawing:
    widget = QrCodeWidget(value, barLevel="M", barBorder=2)
    x0, y0, x1, y1 = widget.getBounds()
    drawing = Drawing(size, size, transform=[size / (x1 - x0), 0, 0, size / (y1 - y0), 0, 0])
    drawing.add(widget)
    return drawing


def _footer_painter(code: str, hint: str, qr_value: str, number: str) -> Callable[[Canvas, object], None]:
    qr_size = 24 * mm
    text = (f"Kode verifikasi: <b>{_pdf_text(code)}</b><br/>{_pdf_text(hint)}<br/>"
            f"<font size='7'>Dokumen nomor {_pdf_text(number)} ditetapkan secara elektronik melalui asnbot "
            "tanpa tanda tangan basah; keasliannya dapat diperiksa dengan kode di atas.</font>")
    para = Paragraph(text, _BASE)
    qr = _qr_drawing(qr_value, qr_size)

    def paint(canvas: Canvas, doc: object) -> None:
        canvas.saveState()
        top = _MARGIN + qr_size + 2 * mm
        canvas.setLineWidth(0.5)
        canvas.line(_MARGIN, top, _PAGE_W - _MARGIN, top)
        renderPDF.draw(qr, canvas, _MARGIN, _MARGIN)
        text_w = _W - qr_size - 4 * mm
        _, h = para.wrap(text_w, qr_size)
        para.drawOn(canvas, _MARGIN + qr_size + 4 * mm, _MARGIN + (qr_size - h) / 2)
        canvas.setFont("Helvetica", 7)
        canvas.drawRightString(_PAGE_W - _MARGIN, _MARGIN - 5 * mm, f"Halaman {canvas.getPageNumber()}")
        canvas.restoreState()

    return paint


def _build(flowables: list[Flowable], *, title: str, subject: str, author: str, issued_on: date,
           footer: Callable[[Canvas, object], None]) -> bytes:
    buf = io.BytesIO()
    doc = SimpleDocTemplate(
        buf, pagesize=A4, leftMargin=_MARGIN, rightMargin=_MARGIN, topMargin=12 * mm,
        bottomMargin=_MARGIN + _FOOTER_H, title=title, author=author, subject=subject, creator="asnbot",
        invariant=True,  # same input, same bytes (fixed document id)
    )
    stamp = issued_on

    def on_page(canvas: Canvas, doc_: object) -> None:
        # The metadata date is the letter's date, not the render time: keeps output reproducible.
        canvas.setDateFormatter(lambda *_: f"D:{stamp:%Y%m%d}000000+07'00'")
        footer(canvas, doc_)

    doc.build(flowables, onFirstPage=on_page, onLaterPages=on_page)
    return buf.getvalue()


# --- cuti ----------------------------------------------------------------------------------

def _kind_key(text: str) -> str:
    t = " ".join(text.lower().replace("-", " ").split())
    return t[5:] if t.startswith("cuti ") else t


def _chosen_kind(jenis: str) -> tuple[int | None, str]:
    """(index on the form, printed name) of the chosen kind; index None for a kind not on it."""
    key = _kind_key(jenis)
    for i, (code, name) in enumerate(CUTI_KINDS):
        if key in (_kind_key(code), _kind_key(name)):
            return i, name
    for code, name in _EXTRA_KIND_NAMES.items():
        if key in (_kind_key(code), _kind_key(name)):
            return None, name
    return None, jenis.strip()


def _office_of(decision: Decision | None) -> str | None:
    """The office a letter is addressed to: the one acted for (without "Plh."), else the signer's."""
    if decision is None:
        return None
    if decision.acting_for:
        return re.sub(r"^(plh|plt|pj)\.?\s+", "", decision.acting_for.strip(), flags=re.IGNORECASE)
    return decision.jabatan


def _decision_section(title: str, decision: Decision | None, skipped_text: str) -> Table:
    labels = ["DISETUJUI", "PERUBAHAN****", "DITANGGUHKAN****", "TIDAK DISETUJUI****"]
    chosen = decision.option if decision else None
    rows: list[list[object]] = [
        [_p(label, _CENTER) for label in labels],
        [_check(chosen == option) for option in DECISION_OPTIONS],
    ]
    if decision is None:
        rows.append([_p(skipped_text), "", "", ""])
        span = [("SPAN", (0, 2), (-1, 2))]
    else:
        comment = f"Catatan: {_pdf_text(decision.comment)}" if decision.comment.strip() else ""
        rows.append([_pm(comment), "", _signer(decision), ""])
        span = [("SPAN", (0, 2), (1, 2)), ("SPAN", (2, 2), (3, 2))]
    return _section(title, rows, (0.25, 0.25, 0.25, 0.25), span)


def render_cuti_letter(data: CutiLetter) -> bytes:
    """The BKN "Formulir Permintaan dan Pemberian Cuti", filled in and decided, as PDF bytes."""
    emp = data.employee
    agency = data.agency
    kepada = data.kepada or _office_of(data.keputusan_pejabat) or "Pejabat yang Berwenang Memberikan Cuti"
    story: list[Flowable] = []

    head_left = _pm(f"<b>{_pdf_text(agency.government.upper())}</b><br/>{_pdf_text(agency.name)}", _SMALL)
    head_right = _pm(f"{_pdf_text(agency.place)}, {format_date(data.issued_on)}<br/>Kepada<br/>"
                     f"Yth. {_pdf_text(kepada)}<br/>di {_pdf_text(agency.place)}")
    head = Table([[head_left, head_right]], colWidths=[0.55 * _W, 0.45 * _W])
    head.setStyle(TableStyle([("VALIGN", (0, 0), (-1, -1), "TOP"), ("LEFTPADDING", (0, 0), (-1, -1), 0)]))
    story += [head, Spacer(1, 3 * mm), _p("FORMULIR PERMINTAAN DAN PEMBERIAN CUTI", _TITLE),
              _p(f"Nomor: {data.number}", _CENTER), Spacer(1, 2 * mm)]

    # I. DATA PEGAWAI
    rows: list[list[object]] = [
        [_p("Nama"), _p(emp.nama), _p(emp.id_label), _p(emp.id_value)],
        [_p("Jabatan"), _p(emp.jabatan), _p("Masa Kerja"), _p(emp.masa_kerja or "-")],
    ]
    extra: list[tuple] = []
    if emp.golongan:
        rows.append([_p("Unit Kerja"), _p(emp.unit_kerja), _p("Gol. Ruang"), _p(emp.golongan)])
    else:
        rows.append([_p("Unit Kerja"), _p(emp.unit_kerja), "", ""])
        extra.append(("SPAN", (1, 2), (3, 2)))
    story.append(_section("I. DATA PEGAWAI", rows, (0.13, 0.45, 0.13, 0.29), extra))

    # II. JENIS CUTI YANG DIAMBIL
    chosen_index, chosen_name = _chosen_kind(data.jenis_cuti)
    cells = [(f"{i + 1}. {name}", i == chosen_index) for i, (_, name) in enumerate(CUTI_KINDS)]
    if chosen_index is None:
        cells.append((f"{len(CUTI_KINDS) + 1}. {chosen_name}", True))
    rows = []
    for left, right in zip_longest(cells[0::2], cells[1::2]):
        row: list[object] = [_p(left[0]), _check(left[1])]
        row += [_p(right[0]), _check(right[1])] if right else ["", ""]
        rows.append(row)
    story.append(_section("II. JENIS CUTI YANG DIAMBIL**", rows, (0.4, 0.1, 0.4, 0.1),
                          [("VALIGN", (0, 0), (-1, -1), "MIDDLE")]))

    # III. ALASAN CUTI
    story.append(_section("III. ALASAN CUTI", [[_p(data.alasan or "-")]], (1.0,)))

    # IV. LAMANYA CUTI
    story.append(_section("IV. LAMANYA CUTI", [[
        _p("Selama"), _p(data.lamanya), _p("mulai tanggal"), _p(format_date(data.mulai)),
        _p("s/d", _CENTER), _p(format_date(data.selesai)),
    ]], (0.1, 0.2, 0.14, 0.23, 0.08, 0.25)))

    # V. CATATAN CUTI: cuti tahunan by year on the left, the other kinds on the right
    left: list[list[object]] = [
        [_p("1. CUTI TAHUNAN", _BOLD), "", ""],
        [_p("Tahun", _CENTER), _p("Sisa", _CENTER), _p("Keterangan", _CENTER)],
    ]
    for r in data.catatan_cuti:
        left.append([_p(r.tahun), _p("-" if r.sisa is None else f"{r.sisa} hari", _CENTER), _p(r.keterangan)])
    others = [name for _, name in CUTI_KINDS[1:]]
    others += [k for k in data.catatan_lain if k not in others]
    right = [[_p(f"{i + 2}. {name.upper()}"), _p(data.catatan_lain.get(name, ""))] for i, name in enumerate(others)]
    rows = []
    for lrow, rrow in zip_longest(left, right):
        rows.append([*(lrow or ["", "", ""]), *(rrow or ["", ""])])
    story.append(_section("V. CATATAN CUTI***", rows, (0.15, 0.09, 0.2, 0.34, 0.22),
                          [("SPAN", (0, 0), (2, 0))]))

    # VI. ALAMAT SELAMA MENJALANKAN CUTI, with the employee's own (electronic) signature
    own = [f"Hormat saya,<br/><b>{_pdf_text(emp.nama)}</b>", f"{emp.id_label}. {_pdf_text(emp.id_value)}",
           f"<font size='7'>Diajukan melalui asnbot, {format_date(data.submitted_on or data.issued_on)}</font>"]
    story.append(_section("VI. ALAMAT SELAMA MENJALANKAN CUTI", [
        [_p(data.alamat_selama_cuti or "-"), _p("TELP"), _p(data.telepon or "-")],
        ["", _pm("<br/>".join(own)), ""],
    ], (0.55, 0.1, 0.35), [("SPAN", (0, 0), (0, 1)), ("SPAN", (1, 1), (2, 1))]))

    # VII, VIII
    story.append(_decision_section("VII. PERTIMBANGAN ATASAN LANGSUNG**", data.pertimbangan_atasan,
                                   "Tidak melalui pertimbangan atasan langsung."))
    story.append(_decision_section("VIII. KEPUTUSAN PEJABAT YANG BERWENANG MEMBERIKAN CUTI**",
                                   data.keputusan_pejabat, "Belum ada keputusan pejabat yang berwenang."))

    story += [Spacer(1, 1.5 * mm), _pm(
        "Catatan:<br/>** Pilih salah satu dengan memberi tanda centang "
        f"(<font name='ZapfDingbats'>{CHECK_GLYPH}</font>).<br/>"
        "*** Diisi oleh pejabat yang menangani bidang kepegawaian sebelum PNS mengajukan cuti.<br/>"
        "**** Diberi tanda centang dan alasannya.", _SMALL)]

    qr_value = data.verify_url or data.verify_hint
    return _build(story, title=f"Formulir Permintaan dan Pemberian Cuti {data.number}",
                  subject=f"{chosen_name} - {emp.nama}", author=agency.name, issued_on=data.issued_on,
                  footer=_footer_painter(data.verify_code, data.verify_hint, qr_value, data.number))


# --- izin belajar --------------------------------------------------------------------------

def _kv_table(rows: list[tuple[str, object]]) -> Table:
    table = Table([[_p(k, _BODY_PLAIN), _p(":", _BODY_PLAIN), _p(v, _BODY_PLAIN)] for k, v in rows],
                  colWidths=[0.3 * _W, 0.03 * _W, 0.62 * _W], hAlign="RIGHT", splitInRow=1)
    table.setStyle(TableStyle([
        ("VALIGN", (0, 0), (-1, -1), "TOP"),
        ("LEFTPADDING", (0, 0), (-1, -1), 0),
        ("TOPPADDING", (0, 0), (-1, -1), 0.5),
        ("BOTTOMPADDING", (0, 0), (-1, -1), 0.5),
    ]))
    return table


IZIN_BELAJAR_KETENTUAN = (
    "Biaya pendidikan menjadi tanggung jawab yang bersangkutan (biaya sendiri).",
    "Kegiatan belajar dilaksanakan di luar jam kerja.",
    "Kegiatan belajar tidak mengganggu pelaksanaan tugas kedinasan.",
    "Izin belajar ini tidak serta-merta memberikan hak untuk kenaikan pangkat atau penyesuaian ijazah; "
    "keduanya mengikuti ketentuan peraturan perundang-undangan yang berlaku.",
    "Izin belajar ini dapat dicabut apabila yang bersangkutan tidak memenuhi ketentuan di atas.",
)


def render_izin_belajar_letter(data: IzinBelajarLetter) -> bytes:
    """The SURAT IZIN BELAJAR as PDF bytes."""
    emp = data.employee
    agency = data.agency
    verifier = agency.short_name or agency.name
    story: list[Flowable] = []

    kop = [f"<font size='12'><b>{_pdf_text(agency.government.upper())}</b></font>",
           f"<font size='11'><b>{_pdf_text(agency.name.upper())}</b></font>"]
    if agency.address:
        kop.append(f"<font size='8'>{_pdf_text(agency.address)}</font>")
    story.append(_pm("<br/>".join(kop), ParagraphStyle("kop", parent=_CENTER, leading=14)))
    rule = Table([[""]], colWidths=[_W], rowHeights=[1])
    rule.setStyle(TableStyle([("LINEBELOW", (0, 0), (-1, -1), 1.5, colors.black)]))
    story += [rule, Spacer(1, 6 * mm), _p("SURAT IZIN BELAJAR", _TITLE),
              _p(f"Nomor: {data.number}", _CENTER), Spacer(1, 6 * mm)]

    story.append(_pm(
        f"Berdasarkan permohonan izin belajar yang diajukan oleh pegawai yang bersangkutan melalui asnbot "
        f"dan hasil verifikasi {_pdf_text(verifier)} atas persyaratan izin belajar, dengan ini diberikan "
        "izin belajar kepada:", _BODY))
    story.append(Spacer(1, 2 * mm))
    emp_rows: list[tuple[str, object]] = [("Nama", emp.nama), (emp.id_label, emp.id_value)]
    if emp.golongan:
        emp_rows.append(("Pangkat/Golongan", emp.golongan))
    emp_rows += [("Jabatan", emp.jabatan), ("Unit Kerja", emp.unit_kerja)]
    story += [_kv_table(emp_rows), Spacer(1, 3 * mm),
              _p("untuk mengikuti pendidikan:", _BODY), Spacer(1, 2 * mm),
              _kv_table([("Jenjang", data.jenjang), ("Program Studi", data.program_studi),
                         ("Perguruan Tinggi", data.perguruan_tinggi), ("Akreditasi", data.akreditasi),
                         ("Jadwal Perkuliahan", data.jadwal)]),
              Spacer(1, 3 * mm), _p("dengan ketentuan:", _BODY), Spacer(1, 1 * mm)]
    items = Table([[_p(f"{i}.", _BODY_PLAIN), _p(text, _BODY)] for i, text in enumerate(IZIN_BELAJAR_KETENTUAN, 1)],
                  colWidths=[0.05 * _W, 0.9 * _W], hAlign="RIGHT")
    items.setStyle(TableStyle([("VALIGN", (0, 0), (-1, -1), "TOP"), ("LEFTPADDING", (0, 0), (-1, -1), 0),
                               ("TOPPADDING", (0, 0), (-1, -1), 0.5), ("BOTTOMPADDING", (0, 0), (-1, -1), 0.5)]))
    story += [items, Spacer(1, 3 * mm),
              _p("Demikian surat izin belajar ini dibuat untuk dipergunakan sebagaimana mestinya.", _BODY),
              Spacer(1, 6 * mm)]

    d = data.decision
    sign = _pm(f"Ditetapkan di {_pdf_text(agency.place)}<br/>pada tanggal {format_date(d.decided_on)}<br/><br/>",
               _BODY_PLAIN)
    block = Table([["", sign], ["", _signer(d)]], colWidths=[0.5 * _W, 0.5 * _W])
    block.setStyle(TableStyle([("VALIGN", (0, 0), (-1, -1), "TOP"), ("LEFTPADDING", (0, 0), (-1, -1), 0)]))
    story.append(KeepTogether([block]))

    qr_value = data.verify_url or data.verify_hint
    return _build(story, title=f"Surat Izin Belajar {data.number}", subject=f"Izin belajar {data.jenjang} - {emp.nama}",
                  author=agency.name, issued_on=data.issued_on,
                  footer=_footer_painter(data.verify_code, data.verify_hint, qr_value, data.number))
