"""Validation errors for identity data.

Each error carries a stable machine ``code`` (for logs, metrics and dialogue branching) and a polite
Indonesian ``message_id`` the assistant can send to the applicant unchanged. ``str(error)`` is meant
for logs and never contains the rejected input, which may be a NIK or a phone number.
"""

from __future__ import annotations

# One table so that wording stays consistent and a typo in a code fails loudly (KeyError) in tests.
MESSAGES: dict[str, str] = {
    "nik_length": "NIK harus 16 angka. Silakan cek kembali e-KTP Anda.",
    "nik_region": "Kode wilayah pada NIK tidak dikenali. Silakan cek kembali NIK pada e-KTP Anda.",
    "nik_date": "Tanggal lahir di dalam NIK tidak valid. Silakan cek kembali NIK pada e-KTP Anda.",
    "nik_serial": "Nomor urut di akhir NIK tidak valid. Silakan cek kembali NIK pada e-KTP Anda.",
    "nik_birth_date_mismatch": (
        "Tanggal lahir tidak sesuai dengan NIK. Silakan cek kembali tanggal lahir dan NIK Anda."
    ),
    "nik_gender_mismatch": "Jenis kelamin tidak sesuai dengan NIK. Silakan cek kembali data Anda.",
    "date_unparseable": (
        "Maaf, tanggal tersebut tidak dapat kami baca. Silakan tulis seperti 17-08-1990 "
        "atau 17 Agustus 1990."
    ),
    "date_impossible": "Tanggal tersebut tidak ada di kalender. Silakan cek kembali tanggal lahir Anda.",
    "date_future": "Tanggal lahir tidak boleh di masa depan. Silakan cek kembali tanggal lahir Anda.",
    "date_too_old": "Tahun lahir tersebut terlalu lama. Silakan cek kembali tahun lahir Anda.",
    "name_too_short": "Nama terlalu pendek. Silakan tulis nama lengkap sesuai e-KTP.",
    "name_too_long": "Nama terlalu panjang (maksimal 100 karakter). Silakan tulis nama sesuai e-KTP.",
    "name_characters": (
        "Nama hanya boleh berisi huruf, spasi, titik, tanda petik (') dan tanda hubung (-). "
        "Silakan tulis nama sesuai e-KTP."
    ),
    "address_too_short": (
        "Alamat terlalu pendek. Silakan tulis alamat lengkap, misalnya jalan, nomor rumah, RT/RW "
        "dan kelurahan."
    ),
    "address_too_long": "Alamat terlalu panjang (maksimal 200 karakter). Silakan tulis lebih singkat.",
    "phone_invalid": (
        "Nomor HP tidak valid. Silakan tulis seperti 0812-3456-7890 atau +62 812 3456 7890."
    ),
}


class IdentityError(ValueError):
    """Base class; ``code`` is stable, ``message_id`` is Indonesian text for the applicant."""

    def __init__(self, code: str, message_id: str | None = None, *, detail: str | None = None) -> None:
        self.code = code
        self.message_id = message_id if message_id is not None else MESSAGES[code]
        super().__init__(f"{code}: {detail}" if detail else code)


class InvalidNik(IdentityError):
    pass


class InvalidDate(IdentityError):
    pass


class InvalidName(IdentityError):
    pass


class InvalidAddress(IdentityError):
    pass


class InvalidPhone(IdentityError):
    pass
