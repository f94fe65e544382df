"""Texts of broadcasts (siaran) for staff and recipients, in one place for review by BKPSDM staff.

HTML (the bot's parse mode); anything interpolated is escaped here. The broadcast's own text is
the staff member's HTML and is shown as is.
"""
from __future__ import annotations

from datetime import datetime
from html import escape as e

from services import broadcast as bc
from services.textdate import format_date

BTN_ACK = bc.ACK_LABEL
BTN_OPD = "🏢 OPD / unit"
BTN_STATUS = "🪪 Status"
BTN_GOLONGAN = "🎖 Golongan"
BTN_ESELON = "🏛 Eselon"
BTN_EVERYONE = "♻️ Semua pegawai (hapus filter)"
BTN_NEXT = "Lanjut ➡️"
BTN_BACK = "⬅️ Kembali"
BTN_PREV_PAGE = "◀️"
BTN_NEXT_PAGE = "▶️"
BTN_ACK_YES = "Ya, minta konfirmasi baca"
BTN_ACK_NO = "Tidak perlu"
BTN_NOW = "Kirim sekarang"
BTN_LATER = "Jadwalkan"
BTN_CONFIRM_NOW = "✅ Kirim sekarang"
BTN_CONFIRM_LATER = "✅ Jadwalkan"
BTN_DISCARD = "❌ Batal"
BTN_STOP = "⛔ Hentikan siaran"
BTN_CSV = "📄 Unduh CSV"
BTN_XLSX = "📊 Unduh XLSX"


def n(value: int) -> str:
    """1234 -> "1.234" (Indonesian thousands separator)."""
    return f"{value:,}".replace(",", ".")


def when(at: datetime) -> str:
    """A local datetime as "Jumat, 27 November 2026 pukul 14.00"."""
    return f"{format_date(at.date())} pukul {at:%H.%M}"


# ---- composing ------------------------------------------------------------------------------------
def ask_message() -> str:
    return (
        "📣 <b>Siaran baru</b>\n"
        "Kirim pesan yang akan disiarkan:\n"
        "• teks (format tebal, miring, tautan ikut terkirim), atau\n"
        "• dokumen (mis. PDF PP 94/2021) atau foto, dengan keterangan.\n\n"
        "Ketik /batal untuk membatalkan."
    )


def message_unsupported() -> str:
    return "Kirim teks, dokumen, atau foto untuk disiarkan, atau /batal."


def file_too_big() -> str:
    return "Berkas terlalu besar untuk diunduh bot (paling besar 20 MB). Kirim berkas yang lebih kecil, atau /batal."


def audience_lines(summary: bc.AudienceSummary) -> list[str]:
    if summary.everyone:
        return ["Semua pegawai aktif."]
    lines = []
    if summary.units:
        lines.append("OPD/unit: " + e(", ".join(summary.units)) + " (termasuk sub-unit)")
    if summary.statuses:
        lines.append("Status: " + e(", ".join(summary.statuses)))
    if summary.golongan:
        lines.append("Golongan: " + e(", ".join(summary.golongan)))
    if summary.eselon:
        lines.append("Eselon: " + e(", ".join(summary.eselon)))
    return lines


def audience_screen(summary: bc.AudienceSummary, count: bc.AudienceCount) -> str:
    lines = ["👥 <b>Penerima siaran</b>", *audience_lines(summary), ""]
    lines.append(counts(count))
    lines.append("")
    lines.append("<i>Filter yang berbeda digabung (DAN); beberapa pilihan dalam satu filter berarti ATAU.</i>")
    return "\n".join(lines)


def counts(count: bc.AudienceCount) -> str:
    text = (f"Jumlah penerima: <b>{n(count.total)}</b> pegawai\n"
            f"• tertaut Telegram: <b>{n(count.linked)}</b>\n"
            f"• belum tertaut (tidak menerima): {n(count.not_linked)}")
    if count.unreachable:
        text += f"\n• memblokir bot (tidak menerima): {n(count.unreachable)}"
    return text


def opd_page(page: int, pages: int) -> str:
    return (f"🏢 <b>Pilih OPD</b> (halaman {page + 1} dari {max(pages, 1)}). Tekan untuk memilih atau membatalkan pilihan.\n"
            "Untuk sub-unit (bidang, sekolah, puskesmas), ketik sebagian namanya.")


def unit_search(query: str, found: int) -> str:
    if not found:
        return f"Tidak ada unit yang namanya memuat “{e(query)}”. Ketik nama lain, atau tekan Kembali."
    return f"🔎 Unit yang memuat “{e(query)}”. Tekan untuk memilih atau membatalkan pilihan."


def status_screen() -> str:
    return "🪪 <b>Status kepegawaian</b>. PNS termasuk CPNS."


def golongan_screen() -> str:
    return ("🎖 <b>Golongan</b>. Ruang I–IV mencakup semua golongan dalam ruang itu (III = III/a–III/d). "
            "Untuk golongan tertentu, ketik mis. <code>III/a</code> atau golongan PPPK <code>IX</code>.")


def eselon_screen() -> str:
    return "🏛 <b>Eselon</b>. Eselon III mencakup III.a dan III.b."


def audience_empty() -> str:
    return "Tidak ada pegawai yang cocok dengan filter ini. Ubah filternya dulu."


def ask_ack() -> str:
    return (f"Tambahkan tombol <b>{e(BTN_ACK)}</b> di bawah pesan? Setiap penerima yang menekannya tercatat, "
            "dan laporan menunjukkan siapa yang sudah membaca, per OPD.")


def ask_when() -> str:
    return "Kapan siaran dikirim?"


def ask_time() -> str:
    return ("Ketik waktu kirim (WIB), mis. <code>besok 08:00</code>, <code>27/11 14:00</code> "
            "atau <code>senin depan jam 9</code>.")


def bad_time() -> str:
    return "Waktu itu tidak saya kenali. Contoh: <code>besok 08:00</code> atau <code>27/11 14:00</code>."


def time_not_future() -> str:
    return "Waktu kirim harus setelah saat ini. Ketik waktu lain."


def time_too_far() -> str:
    return "Siaran dapat dijadwalkan paling lama 90 hari ke depan. Ketik waktu lain."


def preview_intro() -> str:
    return "👇 <b>Pratinjau</b>: pesan berikut persis seperti yang diterima pegawai."


def preview_summary(broadcast_id: int, summary: bc.AudienceSummary, count: bc.AudienceCount, *, ack: bool,
                    at: datetime | None) -> str:
    lines = [f"📣 <b>Siaran #{broadcast_id}</b> siap dikirim."]
    lines.append("Penerima: " + "; ".join(audience_lines(summary)))
    lines.append(counts(count))
    lines.append("Konfirmasi baca: " + ("ya" if ack else "tidak"))
    lines.append("Waktu kirim: " + (when(at) + " WIB" if at else "sekarang"))
    lines.append("\nPesan dikirim bertahap sesuai batas Telegram (sekitar 25 pesan per detik); "
                 "pada jam tenang malam hari pengiriman menunggu pagi.")
    return "\n".join(lines)


def discarded(broadcast_id: int) -> str:
    return f"Siaran #{broadcast_id} dibatalkan dan tidak dikirim."


def confirmed_now(broadcast_id: int, released: bc.Released) -> str:
    text = f"✅ Siaran #{broadcast_id} mulai dikirim ke {n(released.queued)} pegawai."
    if released.not_linked:
        text += f" {n(released.not_linked)} pegawai belum tertaut Telegram dan tidak menerimanya."
    return text + " Kemajuan pengiriman saya kabarkan di pesan berikut."


def confirmed_later(broadcast_id: int, at: datetime) -> str:
    return (f"🕒 Siaran #{broadcast_id} dijadwalkan pada {e(when(at))} WIB. "
            f"Untuk membatalkan: <code>/broadcast_batal {broadcast_id}</code>.")


def not_allowed_anymore() -> str:
    return "Anda tidak lagi berwenang mengirim siaran."


def not_yours() -> str:
    return "Siaran ini disiapkan oleh petugas lain."


# ---- while sending --------------------------------------------------------------------------------
def progress(broadcast_id: int, status: str, t: bc.Tally) -> str:
    if status == bc.CANCELLED:
        head = f"⛔ Siaran #{broadcast_id} dihentikan."
    elif status == bc.DONE or t.complete:
        head = f"✅ Siaran #{broadcast_id} selesai."
    else:
        head = f"📤 Siaran #{broadcast_id} sedang dikirim…"
    lines = [head, f"Terkirim <b>{n(t.delivered)}</b> dari {n(t.linked)} pegawai tertaut."]
    extra = [(t.blocked, "memblokir bot"), (t.failed, "gagal"), (t.cancelled, "dibatalkan"),
             (t.uncertain, "tidak pasti terkirim")]
    extra_text = ", ".join(f"{label} {n(v)}" for v, label in extra if v)
    if extra_text:
        lines.append(extra_text.capitalize() + ".")
    if t.pending and status == bc.SENDING:
        lines.append(f"Menunggu: {n(t.pending)}.")
    return "\n".join(lines)


_MAX_REPORT = 3800  # characters, under Telegram's 4096


def report(r: bc.Report, zone) -> str:  # noqa: ANN001
    b, t = r.broadcast, r.total
    status = {bc.DRAFT: "draf", bc.SCHEDULED: "terjadwal", bc.SENDING: "sedang dikirim", bc.DONE: "selesai",
              bc.CANCELLED: "dihentikan"}.get(b.status, b.status)
    lines = [f"📊 <b>Laporan siaran #{b.id}</b> ({status})"]
    if b.started_at:
        lines.append("Mulai: " + e(when(b.started_at.astimezone(zone))) + " WIB")
    elif b.scheduled_at:
        lines.append("Dijadwalkan: " + e(when(b.scheduled_at.astimezone(zone))) + " WIB")
    lines += [
        f"Penerima: <b>{n(t.recipients)}</b>",
        f"• terkirim: <b>{n(t.delivered)}</b>",
        f"• memblokir bot: {n(t.blocked)}",
        f"• gagal: {n(t.failed)}",
    ]
    if t.pending:
        lines.append(f"• menunggu: {n(t.pending)}")
    if t.cancelled:
        lines.append(f"• dibatalkan: {n(t.cancelled)}")
    if t.uncertain:
        # The sender stopped while these were on their way: Telegram may or may not have them.
        lines.append(f"• tidak pasti terkirim (pengiriman terputus): {n(t.uncertain)}; operator dapat mengirimnya "
                     f"lagi (mungkin jadi dua kali): <code>asnbot broadcast resend-uncertain {b.id}</code>")
    lines.append(f"• belum tertaut Telegram: {n(t.not_linked)}")
    if b.ack:
        lines.append(f"• sudah membaca dan memahami: <b>{n(t.acked)}</b> dari {n(t.delivered)} yang menerima")
    if r.per_opd:
        lines.append("\n<b>Per OPD</b> (terkirim/penerima" + (", sudah membaca" if b.ack else "") + "):")
        body = "\n".join(lines)
        for i, o in enumerate(r.per_opd):
            line = f"• {e(o.opd)}: {n(o.delivered)}/{n(o.recipients)}" + (f", {n(o.acked)}" if b.ack else "")
            if len(body) + len(line) + 80 > _MAX_REPORT:
                body += f"\n… dan {n(len(r.per_opd) - i)} OPD lainnya (lihat unduhan)."
                break
            body += "\n" + line
        return body + "\n\nDaftar lengkap per pegawai: unduh CSV atau XLSX di bawah."
    return "\n".join(lines)


def export_caption(broadcast_id: int, rows: int) -> str:
    return f"Daftar penerima siaran #{broadcast_id}: {n(rows)} pegawai."


def cancelled(c: bc.Cancelled) -> str:
    if c.previous_status == bc.SENDING:
        return (f"⛔ Siaran #{c.broadcast_id} dihentikan: {n(c.messages_cancelled)} pesan yang belum terkirim "
                "dibatalkan. Laporan akhir menyusul.")
    return f"⛔ Siaran #{c.broadcast_id} dibatalkan sebelum dikirim."


def usage_cancel() -> str:
    return "Ketik <code>/broadcast_batal NOMOR</code>, mis. <code>/broadcast_batal 12</code>."


def usage_report() -> str:
    return "Ketik <code>/laporan NOMOR</code>, mis. <code>/laporan 12</code>."


def error(message: str) -> str:
    return e(message)


# ---- recipients -----------------------------------------------------------------------------------
def ack_thanks() -> str:
    return "Terima kasih, sudah tercatat bahwa Anda membaca dan memahami pesan ini."


def ack_again() -> str:
    return "Sudah tercatat sebelumnya. Terima kasih."


def ack_not_linked() -> str:
    return "Akun Telegram Anda belum tertaut dengan data kepegawaian."


def ack_not_recipient() -> str:
    return "Tombol ini hanya berlaku bagi penerima siaran."
