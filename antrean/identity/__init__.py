"""Pure checks for what applicants type: NIK, birth date, name, address, phone number.

Nothing here touches Rasa, the database or the network, so dialogue code, actions and staff tools
can all share the same rules and Indonesian error messages.
"""

from antrean.identity.dates import age_on, find_date_span, is_minor, parse_birth_date
from antrean.identity.errors import (
    IdentityError,
    InvalidAddress,
    InvalidDate,
    InvalidName,
    InvalidNik,
    InvalidPhone,
)
from antrean.identity.names import normalise_address, normalise_name
from antrean.identity.nik import Nik, check_nik_against, gender_code, mask_nik, parse_nik
from antrean.identity.phone import check_sender_id, check_wa_id, is_bsuid, mask_bsuid, mask_msisdn, normalise_msisdn
from antrean.identity.regions import district_name, province_name, regency_name

__all__ = [
    "IdentityError",
    "InvalidAddress",
    "InvalidDate",
    "InvalidName",
    "InvalidNik",
    "InvalidPhone",
    "Nik",
    "age_on",
    "check_nik_against",
    "check_sender_id",
    "check_wa_id",
    "district_name",
    "find_date_span",
    "gender_code",
    "is_bsuid",
    "is_minor",
    "mask_bsuid",
    "mask_msisdn",
    "mask_nik",
    "normalise_address",
    "normalise_msisdn",
    "normalise_name",
    "parse_birth_date",
    "parse_nik",
    "province_name",
    "regency_name",
]
