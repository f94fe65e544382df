"""User-facing texts of the approval chain, Status pengajuan, letter verification and Plt/Plh.

HTML (the bot's parse mode); everything interpolated is escaped here. Callback answers
(alerts) are plain text of at most 200 characters.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from html import escape as _e
from typing import Any

from services.agency import Agency
from services.textdate import format_date, format_short

MAX_TEXT = 4000  # Telegram allows 4096; leave room for the closing tags we add
MAX_ALERT = 200

BTN_CANCEL = "✖️ Batal"
BTN_SKIP = "Lewati"
BTN_GENERAL_NOTE = "📝 Catatan umum"
BTN_SEND_REVISION = "📨 Kembalikan ke pemohon"
BTN_WITHDRAW = "🗑 Batalkan"
BTN_WITHDRAW_YES = "Ya, batalkan"
BTN_WITHDRAW_NO = "Tidak"
BTN_DOWNLOAD = "📄 Unduh surat"
BTN_FIX = "✏️ Perbaiki"
BTN_SEND_FIX = "📨 Kirim perbaikan"
BTN_BACK = "« Daftar pengajuan"

GENERAL = "umum"  # the key of a verifier's note that is not about one document
EVENT_LABELS = {"ajukan": "Diajukan", "batal": "Dibatalkan oleh pemohon", "perbaiki": "Perbaikan dikirim"}


def e(value: Any) -> str:
    return _e(str(value), quote=False)


def clip(text: str, limit: int = MAX_TEXT) -> str:
    """Cut at a line boundary so no HTML tag is left open (our tags never span lines)."""
    if len(text) <= limit:
        return text
    cut = text.rfind("\n", 0, limit - 2)
    return text[:cut if cut > 0 else limit - 2] + "\n…"


def alert(message: str) -> str:
    return message if len(message) <= MAX_ALERT else message[:MAX_ALERT - 1] + "…"


def when(d: datetime) -> str:
    return f"{format_short(d.date())} {d:%H:%M}"


def iso_short(value: str | None) -> str:
    try:
        return format_short(date.fromisoformat(str(value)))
    except ValueError:
        return e(value or "-")


# ---- approver side ------------------------------------------------------------------------------
def not_linked_button() -> str:
    return alert("Akun Telegram Anda belum tertaut ke data kepegawaian, jadi tombol ini tidak dapat dipakai. "
                 "Ketik /start untuk menautkan.")


def invalid_button() -> str:
    return "Tombol ini tidak dikenal atau sudah tidak berlaku; tidak ada yang diubah."


def recorded_alert(label: str) -> str:
    return alert(f"Tercatat: {label}.")


def recorded_message(label: str, number: str) -> str:
    return f"✅ <b>{e(label)}</b> untuk {e(number)} tercatat dan sudah dikabarkan kepada pemohon."


def acted_footer(label: str, acting_label: str | None, at: datetime, next_line: str) -> str:
    by = "Anda" + (f" selaku {e(acting_label)}" if acting_label else "")
    return f"\n\n✅ <b>{e(label)}</b> oleh {by}, {when(at)}.\n{next_line}"


def next_step_line(step_label: str) -> str:
    return f"Berikutnya: {e(step_label)}."


def final_line(status_label: str) -> str:
    return f"Status akhir: <b>{e(status_label)}</b>."


def revision_line() -> str:
    return "Dikembalikan kepada pemohon untuk diperbaiki."


def ask_new_dates(number: str) -> str:
    return (f"Perubahan untuk <b>{e(number)}</b>: pilih <b>tanggal mulai</b> yang baru di kalender, "
            "atau ketik tanggalnya (mis. <i>12/1</i> atau <i>12-14 Januari</i>).")


def ask_new_end(start: date) -> str:
    return (f"Mulai {e(format_date(start))}. Sekarang pilih <b>tanggal selesai</b> yang baru, "
            "atau ketik tanggalnya.")


def ask_change_comment(start: date, end: date) -> str:
    return (f"Tanggal baru: {e(format_short(start))} s.d. {e(format_short(end))}.\n"
            "Tulis catatan perubahan untuk pemohon, atau tekan <b>Lewati</b>.")


def ask_reason(number: str, action_label: str) -> str:
    return f"<b>{e(action_label)}</b> untuk <b>{e(number)}</b>: mohon tuliskan alasannya dalam satu pesan."


def ask_until(number: str) -> str:
    return (f"Ditangguhkan sampai kapan? Pilih tanggal di kalender atau ketik (mis. <i>31/1</i>). "
            f"Penangguhan paling lama 1 tahun. ({e(number)})")


def date_not_understood() -> str:
    return "Maaf, tanggal itu tidak saya kenali. Pilih di kalender atau ketik seperti <i>12/1</i> atau <i>12 Januari</i>."


def end_before_start() -> str:
    return "Tanggal selesai tidak boleh sebelum tanggal mulai. Silakan pilih lagi."


def until_out_of_range(first: date, last: date) -> str:
    return f"Tanggal penangguhan harus antara {e(format_short(first))} dan {e(format_short(last))}."


def text_expected() -> str:
    return "Mohon tuliskan dalam bentuk teks, atau tekan Batal."


def too_long(limit: int) -> str:
    return f"Terlalu panjang; mohon paling banyak {limit} karakter."


def flow_cancelled() -> str:
    return "Dibatalkan. Permohonan belum diproses; tombolnya masih dapat dipakai."


def flow_expired() -> str:
    return "Langkah ini sudah tidak berlaku. Buka lagi pesan permohonannya atau ketik /antrian."


def refused(message: str) -> str:
    return f"⚠️ {e(message)}"


def revision_menu(number: str, docs: list[tuple[str, str]], notes: dict[str, str]) -> str:
    lines = [f"Pengembalian <b>{e(number)}</b> untuk diperbaiki.",
             "Pilih dokumen yang perlu diperbaiki dan tulis catatannya (boleh beberapa), "
             "atau tulis catatan umum. Lalu tekan <b>Kembalikan ke pemohon</b>."]
    if not docs:
        lines.append("<i>Permohonan ini tidak memiliki lampiran.</i>")
    labels = dict(docs)
    if notes:
        lines.append("\n<b>Catatan:</b>")
        lines += [f"• {e(labels.get(k, 'Catatan umum'))}: {e(v)}" for k, v in notes.items()]
    return "\n".join(lines)


def ask_doc_note(label: str) -> str:
    return f"Tulis catatan untuk <b>{e(label)}</b> (apa yang harus diperbaiki):"


def ask_general_note() -> str:
    return "Tulis catatan umum untuk pemohon:"


def revision_needs_note() -> str:
    return "Tulis paling sedikit satu catatan dulu."


def revision_comment(labels: list[str]) -> str:
    return "Dokumen perlu diperbaiki: " + ", ".join(labels) + "." if labels else "Perlu perbaikan."


# ---- /antrian -----------------------------------------------------------------------------------
def queue_empty() -> str:
    return "Tidak ada permohonan yang menunggu tindakan Anda saat ini. 👍"


def queue_intro(n: int, more: bool) -> str:
    return f"Permohonan yang menunggu tindakan Anda: <b>{n}{'+' if more else ''}</b>." + (
        " Yang tertua ditampilkan dulu; selesaikan lalu ketik /antrian lagi untuk berikutnya." if more else "")


def waiting_since(since: datetime) -> str:
    return f"Menunggu sejak {when(since)}"


def acting_as(label: str, principal: str) -> str:
    return f"Anda bertindak selaku {e(label)}, atas nama {e(principal)}."


def please_act(step_label: str) -> str:
    return f"Mohon {e(step_label)} Anda:"


# ---- details and history ------------------------------------------------------------------------
@dataclass
class HistoryRow:
    at: datetime  # local time
    action: str
    action_label: str
    step_label: str | None
    actor: str | None
    actor_label: str | None = None  # "Plh. Kepala Sub Bagian Tata Usaha"
    on_behalf_of: str | None = None  # the principal's name
    comment: str | None = None
    data: dict[str, Any] = field(default_factory=dict)
    doc_labels: dict[str, str] = field(default_factory=dict)


def history(rows: list[HistoryRow]) -> str:
    if not rows:
        return "<b>Riwayat</b>\n-"
    out = ["<b>Riwayat</b>"]
    for r in rows:
        line = f"• {when(r.at)} - <b>{e(r.action_label)}</b>"
        if r.step_label and r.action not in ("ajukan",):
            line += f" ({e(r.step_label)})"
        if r.actor:
            line += f" oleh {e(r.actor)}"
        out.append(line)
        if r.actor_label:
            out.append(f"   {e(r.actor_label)}" + (f" atas nama {e(r.on_behalf_of)}" if r.on_behalf_of else ""))
        if r.comment:
            out.append(f"   Catatan: {e(r.comment)}")
        before, after = r.data.get("before") or {}, r.data.get("after") or {}
        if "start" in after:
            out.append(f"   Tanggal: {iso_short(before.get('start'))} s.d. {iso_short(before.get('end'))} → "
                       f"{iso_short(after.get('start'))} s.d. {iso_short(after.get('end'))}")
        if r.data.get("until"):
            out.append(f"   Ditangguhkan sampai {iso_short(r.data['until'])}")
        for k, v in (r.data.get("notes") or {}).items():
            out.append(f"   - {e(r.doc_labels.get(k, 'Catatan umum' if k == GENERAL else k))}: {e(v)}")
    return "\n".join(out)


def status_line(status_label: str, waiting_for: str | None) -> str:
    return f"Status: <b>{e(status_label)}</b>" + (f" - menunggu {e(waiting_for)}" if waiting_for else "")


def no_access() -> str:
    return alert("Anda tidak berhak melihat permohonan ini.")


def attachments_intro(n: int) -> str:
    return f"Lampiran: {n} berkas." if n else "Tidak ada lampiran."


def attachment_missing(label: str) -> str:
    return f"⚠️ Berkas {e(label)} tidak ditemukan di penyimpanan; hubungi admin BKPSDM."


# ---- Status pengajuan ---------------------------------------------------------------------------
def status_empty() -> str:
    return "Anda belum memiliki pengajuan. Ajukan cuti atau izin belajar lewat menu di bawah."


def status_intro(n: int) -> str:
    return f"<b>Status pengajuan</b> ({n} terbaru). Pilih salah satu untuk melihat riwayat dan pilihan lainnya."


def status_item(number: str, title: str, period: str | None, status_label: str, step_label: str | None) -> str:
    what = e(title.replace("permohonan ", "").capitalize()) + (f" {period}" if period else "")
    where = f" - {e(step_label)}" if step_label else ""
    return f"• <b>{e(number)}</b> {what}: {e(status_label)}{where}"


def status_button(number: str, status_label: str) -> str:
    return f"{number} · {status_label}"


def withdraw_confirm(number: str) -> str:
    return f"Batalkan permohonan <b>{e(number)}</b>? Setelah dibatalkan, permohonan tidak dapat dilanjutkan lagi."


def not_yours() -> str:
    return alert("Permohonan tidak ditemukan.")


def letter_caption(number: str, code: str) -> str:
    return f"📄 Surat {e(number)}. Kode verifikasi: <code>{e(code)}</code>"


def letter_missing() -> str:
    return "Surat untuk permohonan ini belum tersedia."


def letter_unreadable() -> str:
    return "Maaf, berkas surat tidak dapat dibaca saat ini. Silakan hubungi BKPSDM."


def revision_notes(notes: dict[str, str], labels: dict[str, str]) -> str:
    if not notes:
        return ""
    lines = ["<b>Catatan verifikator:</b>"]
    lines += [f"• {e(labels.get(k, 'Catatan umum' if k == GENERAL else k))}: {e(v)}" for k, v in notes.items()]
    return "\n".join(lines)


def fix_intro(number: str, notes_text: str) -> str:
    return f"Perbaikan <b>{e(number)}</b>.\n{notes_text}"


def ask_upload(label: str, i: int, n: int) -> str:
    return (f"({i}/{n}) Kirim <b>{e(label)}</b> yang sudah diperbaiki, sebagai foto atau PDF "
            "(paling besar 5 MB). Tekan Batal untuk berhenti.")


def too_big(limit: str, size: str) -> str:
    return f"Ukuran berkas paling besar {limit}; berkas Anda {size}."


def upload_expected() -> str:
    return "Mohon kirim berkasnya sebagai foto atau PDF, atau tekan Batal."


def upload_rejected(message: str) -> str:
    return f"⚠️ {e(message)} Silakan kirim lagi."


def upload_ok(label: str) -> str:
    return f"✅ {e(label)} diterima."


def fix_ready(number: str, labels: list[str]) -> str:
    done = "\n".join(f"✅ {e(x)}" for x in labels)
    return (f"Perbaikan <b>{e(number)}</b> siap dikirim.\n{done}\n" if labels else
            f"Permohonan <b>{e(number)}</b> siap dikirim kembali.\n") + "Tekan <b>Kirim perbaikan</b>."


def fix_nothing_to_upload() -> str:
    return "Tidak ada dokumen yang perlu diunggah ulang; baca catatannya, lalu kirim kembali permohonan Anda."


def fix_sent(number: str) -> str:
    return f"Perbaikan {e(number)} sudah dikirim. Kabar berikutnya akan saya sampaikan di sini."


def fix_not_open() -> str:
    return "Permohonan ini tidak sedang menunggu perbaikan."


def withdrawn_view(number: str) -> str:
    return f"Permohonan <b>{e(number)}</b> dibatalkan."


# ---- verification -------------------------------------------------------------------------------
def verify_usage() -> str:
    return ("Untuk memeriksa keaslian surat, kirim <code>/verifikasi KODE</code> dengan kode yang tercetak "
            "di surat (mis. <code>/verifikasi K7QH-M2XP-9R</code>), atau pindai kode QR pada surat.")


def _period(text: str) -> str:
    start, sep, end = text.partition(" s.d. ")
    if sep:
        return f"{iso_short(start)} s.d. {iso_short(end)}"
    return e(text)


def verify_found(v: Any) -> str:  # services.applications.letter_issue.Verification
    head = ("✅ <b>Surat ASLI dan BERLAKU.</b>" if v.valid else
            f"⚠️ <b>Surat asli, tetapi TIDAK BERLAKU</b> (status: {e(v.status)}).")
    kind = v.title.replace("permohonan ", "").strip().capitalize()
    lines = [head, f"Nomor: <b>{e(v.number)}</b>", f"Jenis: {e(kind)}",
             f"Atas nama: {e(v.holder)}" + (f" ({e(v.holder_id)})" if v.holder_id else "")]
    if v.period:
        lines.append(f"Masa: {_period(v.period)}")
    if v.issued_on:
        lines.append(f"Diterbitkan: {e(format_date(v.issued_on))}")
    lines.append(f"Status: {e(v.status)}")
    lines.append("<i>Cocokkan data di atas dengan surat yang Anda pegang.</i>")
    return "\n".join(lines)


def verify_not_found(code: str, agency: Agency) -> str:
    contact = "\n".join(e(x) for x in agency.contact_lines())
    return (f"❌ Kode <code>{e(code[:40])}</code> <b>tidak ditemukan</b>.\n"
            "Periksa kembali penulisannya (huruf O dan angka 0 dianggap sama). Bila tetap tidak ditemukan, "
            f"surat itu tidak dapat dipastikan keasliannya: mohon hubungi {e(agency.short_name)}.\n{contact}")


# ---- Plt/Plh ------------------------------------------------------------------------------------
def plh_usage() -> str:
    return ("Pemakaian:\n<code>/plh NIP_PEJABAT NIP_PELAKSANA DD-MM-YYYY DD-MM-YYYY [Plt|Plh]</code>\n"
            "<code>/plh daftar</code> - penugasan yang berlaku\n<code>/plh cabut NOMOR</code> - cabut penugasan")


def plh_added(d_id: int, kind: str, principal: str, acting: str, start: date, end: date) -> str:
    return (f"✅ Penugasan nomor {d_id}: <b>{e(acting)}</b> sebagai {e(kind)} untuk {e(principal)}, "
            f"{e(format_short(start))} s.d. {e(format_short(end))}. Pelaksana sudah diberi tahu.")


def plh_list(rows: list[Any]) -> str:  # services.applications.delegation.DelegationView
    if not rows:
        return "Tidak ada penugasan Plt/Plh yang berlaku atau akan datang."
    lines = ["<b>Penugasan Plt/Plh</b>"]
    for r in rows:
        lines.append(f"{r.id}. {e(r.kind)}. {e(r.principal_jabatan or r.principal_name)} ({e(r.principal_name)}): "
                     f"{e(r.acting_name)}, {e(format_short(r.starts_on))} s.d. {e(format_short(r.ends_on))}")
    return clip("\n".join(lines))


def plh_revoked(d_id: int) -> str:
    return f"Penugasan nomor {d_id} dicabut."


def plh_error(message: str) -> str:
    return f"⚠️ {e(message)}"


def plh_bad_date(text: str) -> str:
    return f"Tanggal <code>{e(text)}</code> tidak dikenali; gunakan DD-MM-YYYY."
