"""Texts of the cuti form (handlers/cuti.py), in one place for BKPSDM staff to review.

HTML (the bot's parse mode); everything interpolated is escaped here.
"""
from __future__ import annotations

from datetime import date
from html import escape as e

from services.cuti import rules
from services.cuti.quote import AnnualBalance, Quote
from services.textdate import WEEKDAYS, format_date

BTN_BACK = "‹ Kembali"
BTN_NEXT = "Lanjut ›"
BTN_OTHER_DATES = "📅 Pilih tanggal lain"
BTN_YES = "Ya"
BTN_NO = "Tidak"
BTN_SEND = "✅ Kirim"
BTN_EDIT = "✏️ Ubah"
BTN_TO_SUMMARY = "‹ Kembali ke ringkasan"

KIND_BUTTONS = {
    "tahunan": "Cuti tahunan", "besar": "Cuti besar", "sakit": "Cuti sakit", "melahirkan": "Cuti melahirkan",
    "alasan-penting": "Cuti karena alasan penting", "bersama": "Cuti bersama",
    "cltn": "Cuti di luar tanggungan negara (CLTN)",
}
# Detail options (callback codes; "-" is "no particular reason").
DETAIL_LABELS = {
    "besar": {"-": "Cuti besar biasa (masa kerja 5 tahun)", rules.HAJI_PERTAMA: "Ibadah haji pertama",
              rules.MELAHIRKAN_KE_4: "Persalinan anak ke-4 atau lebih"},
    "sakit": {"-": "Sakit", rules.GUGUR_KANDUNGAN: "Gugur kandungan"},
    "melahirkan": {"b1": "Persalinan ke-1", "b2": "Persalinan ke-2", "b3": "Persalinan ke-3",
                   "b4": "Ke-4 atau lebih"},
}
DETAIL_QUESTIONS = {
    "besar": "Untuk keperluan apa cuti besar ini?",
    "sakit": "Jenis cuti sakit:",
    "melahirkan": "Persalinan ke berapa selama Anda menjadi ASN?",
}
# Short names of the documents, stored with the upload and shown to approvers.
DOC_LABELS = {
    "dokumen-surat-dokter": "Surat keterangan dokter",
    "dokumen-dokter-pemerintah": "Surat keterangan dokter pemerintah",
    "dokumen-jadwal-haji": "Jadwal keberangkatan haji",
    "dokumen-bukti-alasan": "Bukti alasan penting",
    "dokumen-alasan-cltn": "Bukti alasan CLTN",
}
FIELD_BUTTONS = {
    "kind": "Jenis cuti", "dates": "Tanggal", "abroad": "Luar negeri", "alasan": "Alasan", "alamat": "Alamat",
    "telepon": "Telepon", "files": "Lampiran",
}
MAX_EXCLUDED_SHOWN = 8


def kind_name(kind: str) -> str:
    return rules.KIND_NAMES.get(kind, kind).capitalize()


def doc_label(code: str, message: str) -> str:
    return DOC_LABELS.get(code, message)


def span(start: date, end: date) -> str:
    return format_date(start) if start == end else f"{format_date(start)} s.d. {format_date(end)}"


def not_linked_first() -> str:
    return ("Untuk mengajukan cuti, tautkan dulu akun Telegram Anda dengan data kepegawaian: tekan "
            "<b>Bagikan nomor telepon saya</b>.")


def balance_line(b: AnnualBalance) -> str:
    if b.balance is None:
        return ""
    x = b.balance
    line = (f"Sisa cuti tahunan Anda: <b>{x.total} hari kerja</b> "
            f"({x.year - 2}: {x.n2}, {x.year - 1}: {x.n1}, {x.year}: {x.n}).")
    if not b.has_ledger:
        line += "\n<i>Belum ada catatan cuti Anda di sistem; angka ini hak tahun berjalan.</i>"
    return line


def choose_kind(b: AnnualBalance) -> str:
    head = "🗓 <b>Pengajuan cuti</b>\n"
    bal = balance_line(b)
    return head + (bal + "\n\n" if bal else "\n") + "Pilih jenis cuti yang dapat Anda ajukan:"


def no_kinds(reason: str | None) -> str:
    text = "Menurut data kepegawaian, saat ini tidak ada jenis cuti yang dapat Anda ajukan lewat bot."
    if reason:
        text += f"\n{e(reason)}"
    return text + "\nBila data Anda keliru, hubungi pengelola kepegawaian OPD Anda."


def kind_refused(kind: str, reason: str | None) -> str:
    return f"{e(kind_name(kind))} tidak dapat Anda ajukan. " + (e(reason) if reason else "")


def choose_detail(kind: str) -> str:
    return f"<b>{e(kind_name(kind))}</b>\n{e(DETAIL_QUESTIONS[kind])}"


def chosen(label: str, value: str) -> str:
    return f"{e(label)}: <b>{e(value)}</b>"


def ask_start(kind: str) -> str:
    return (f"<b>{e(kind_name(kind))}</b>\nPilih <b>tanggal mulai</b> di kalender, atau ketik tanggalnya, "
            "misalnya <i>12/1</i>, <i>12 Januari</i>, <i>besok</i>, <i>senin depan</i>. "
            "Bisa juga sekaligus rentang: <i>12-14 Januari</i>.\n"
            "<i>Tanggal bertanda * adalah hari libur atau bukan hari kerja.</i>")


def ask_end(kind: str, start: date) -> str:
    return (f"<b>{e(kind_name(kind))}</b> mulai {e(format_date(start))}.\n"
            "Pilih <b>tanggal selesai</b> di kalender, atau ketik tanggalnya.")


def date_not_understood() -> str:
    return ("Maaf, tanggal itu tidak saya kenali. Contoh: <i>12/1</i>, <i>12 Januari 2027</i>, <i>besok</i>, "
            "<i>senin depan</i>, atau rentang <i>12-14 Januari</i>.")


def end_before_start(start: date) -> str:
    return f"Tanggal selesai tidak boleh sebelum tanggal mulai ({e(format_date(start))}). Silakan pilih lagi."


def _excluded(q: Quote) -> list[str]:
    # Weekends are summed up in one line (a long leave has dozens); holidays are named one by one.
    weekend = [x for x in q.excluded if x.reason.startswith("bukan hari kerja")]
    others = [x for x in q.excluded if not x.reason.startswith("bukan hari kerja")]
    lines = []
    if weekend:
        names = list(dict.fromkeys(WEEKDAYS[x.date.weekday()] for x in sorted(weekend, key=lambda x: x.date.weekday())))
        lines.append(f"• {len(weekend)} hari bukan hari kerja ({e('/'.join(names))})")
    for x in others[:MAX_EXCLUDED_SHOWN]:
        lines.append(f"• {e(format_date(x.date))}: {e(x.reason)}")
    if len(others) > MAX_EXCLUDED_SHOWN:
        lines.append(f"• … dan {len(others) - MAX_EXCLUDED_SHOWN} hari libur lainnya")
    return lines


def quote_lines(kind: str, start: date, end: date, q: Quote) -> list[str]:
    calendar_days = (end - start).days + 1
    lines = [f"Tanggal: {e(span(start, end))}",
             f"Lama: {calendar_days} hari kalender; <b>{q.working_days} hari kerja</b> dihitung"]
    excluded = _excluded(q)
    if excluded:
        lines.append("Tidak dihitung:")
        lines += excluded
    if q.balance_before is not None:
        if q.balance_after is not None and q.balance_after != q.balance_before:
            lines.append(f"Sisa cuti tahunan: {q.balance_before} → <b>{q.balance_after} hari</b>")
        else:
            lines.append(f"Sisa cuti tahunan: {q.balance_before} hari")
    return lines


def problems_lines(q: Quote) -> list[str]:
    blocking = [p for p in q.problems if p.blocking]
    notes = [p for p in q.problems if not p.blocking and not p.code.startswith("dokumen-")]
    docs = [p for p in q.problems if not p.blocking and p.code.startswith("dokumen-")]
    lines = []
    if blocking:
        lines.append("\n⛔ <b>Belum dapat diajukan:</b>")
        lines += [f"• {e(p.message)}" for p in blocking]
    if notes:
        lines.append("\nℹ️ <b>Catatan:</b>")
        lines += [f"• {e(p.message)}" for p in notes]
    if docs and not blocking:
        lines.append("\n📎 <b>Lampiran yang diperlukan:</b>")
        lines += [f"• {e(p.message)}" for p in docs]
    return lines


def quote(kind: str, start: date, end: date, q: Quote) -> str:
    lines = [f"🗓 <b>{e(kind_name(kind))}</b>", *quote_lines(kind, start, end, q), *problems_lines(q)]
    if any(p.blocking for p in q.problems):
        lines.append("\nSilakan pilih tanggal lain, atau batalkan.")
    return "\n".join(lines)


def ask_abroad() -> str:
    return "Apakah cuti ini dijalani <b>di luar negeri</b>?"


def ask_alasan(kind: str) -> str:
    return f"Tuliskan <b>alasan</b> {e(rules.KIND_NAMES.get(kind, 'cuti'))} secara singkat:"


def ask_alamat() -> str:
    return "Tuliskan <b>alamat selama menjalankan cuti</b>:"


def ask_telepon() -> str:
    return "Nomor <b>telepon</b> yang dapat dihubungi selama cuti:"


def use_registered(phone: str) -> str:
    return f"Pakai {phone}"


def text_too_short(what: str, minimum: int) -> str:
    return f"{e(what)} terlalu singkat (paling sedikit {minimum} huruf). Silakan tulis lagi."


def text_too_long(what: str, maximum: int) -> str:
    return f"{e(what)} terlalu panjang (paling banyak {maximum} huruf). Mohon diringkas."


def bad_phone() -> str:
    return "Nomor telepon belum benar. Contoh: <i>0812-3456-7890</i> atau <i>(021) 8841234</i>."


def ask_file(i: int, n: int, message: str) -> str:
    return (f"📎 <b>Lampiran {i} dari {n}</b>\n{e(message)}\n\n"
            "Kirim sebagai <b>foto</b> atau berkas <b>PDF</b> (paling besar 5 MB).")


def file_received(label: str) -> str:
    return f"✅ {e(label)} diterima."


def file_expected() -> str:
    return "Mohon kirim lampirannya sebagai foto atau berkas PDF."


def file_too_big(limit: str) -> str:
    return f"Ukuran berkas paling besar {e(limit)}. Silakan kirim berkas yang lebih kecil."


def file_download_failed() -> str:
    return "Berkas tidak dapat diunduh dari Telegram. Silakan kirim ulang."


def file_rejected(message: str) -> str:
    return f"Maaf, berkas tidak dapat diterima: {e(message)} Silakan kirim lagi."


def summary(d: dict, q: Quote, phone: str | None, doc_labels: list[str]) -> str:
    kind = d["kind"]
    start, end = date.fromisoformat(d["start"]), date.fromisoformat(d["end"])
    lines = ["📝 <b>Ringkasan pengajuan cuti</b>", f"Jenis: <b>{e(kind_name(kind))}</b>"]
    detail = _detail_text(d)
    if detail:
        lines.append(f"Keperluan: {e(detail)}")
    lines += quote_lines(kind, start, end, q)
    if kind in rules.ABROAD_KINDS:
        lines.append(f"Di luar negeri: {'Ya' if d.get('abroad') else 'Tidak'}")
    lines += [f"Alasan: {e(d.get('alasan') or '-')}", f"Alamat selama cuti: {e(d.get('alamat') or '-')}",
              f"Telepon: {e(phone or '-')}"]
    if doc_labels:
        lines.append("Lampiran: " + e(", ".join(doc_labels)))
    lines += problems_lines(_without_docs(q))
    if any(p.blocking for p in q.problems):
        lines.append("\nUbah tanggal atau jenis cuti, atau batalkan.")
    else:
        lines.append("\nPeriksa kembali, lalu tekan <b>Kirim</b>.")
    return "\n".join(lines)


def _without_docs(q: Quote) -> Quote:
    from dataclasses import replace

    return replace(q, problems=[p for p in q.problems if not p.code.startswith("dokumen-")])


def _detail_text(d: dict) -> str | None:
    kind = d.get("kind")
    if kind == "melahirkan" and d.get("birth_order"):
        return DETAIL_LABELS["melahirkan"].get(f"b{min(int(d['birth_order']), 4)}")
    if d.get("reason_code"):
        return DETAIL_LABELS.get(kind, {}).get(d["reason_code"])
    return None


def choose_field() -> str:
    return "Bagian mana yang ingin diubah?"


def filed(number: str, described: list[str]) -> str:
    """The summary, once sent, becomes the record of what was filed. The confirmation with the
    next step comes from the outbox (services.applications.notify), so it is not repeated here."""
    return f"📄 <b>Permohonan cuti {e(number)}</b>\n" + "\n".join(described)


def submitted_toast(number: str) -> str:
    return f"Terkirim: {number}"


def already_submitted(number: str) -> str:
    return f"Pengajuan ini sudah terkirim sebagai {number}; tidak dikirim dua kali."


def refused(message: str) -> str:
    return f"⛔ Pengajuan belum dapat dikirim: {e(message)}\nIsian Anda tetap tersimpan; silakan ubah lalu kirim lagi."


def expired(hours: float) -> str:
    h = f"{hours:g}"
    return f"⌛ Isian cuti Anda sebelumnya sudah lewat {h} jam tanpa dilanjutkan, jadi saya mulai dari awal."


def cancelled() -> str:
    return "Pengajuan cuti dibatalkan; tidak ada yang dikirim."


def use_buttons() -> str:
    return "Silakan pilih dengan tombol, atau tekan <b>Batal</b>."


def in_form() -> str:
    return ("Anda sedang mengisi pengajuan cuti. Lanjutkan isian di bawah, atau tekan <b>Batal</b> "
            "(atau ketik /batal) untuk keluar.")
