"""Tests for services.phone: Indonesian mobile number normalisation, display, masking."""
from __future__ import annotations

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from services.phone import PhoneError, display_phone, mask_phone, normalize_phone


def _err(raw: str, **kw) -> PhoneError:
    with pytest.raises(PhoneError) as exc:
        normalize_phone(raw, **kw)
    return exc.value


# National significant numbers of Indonesian mobiles: "8" then 8-11 digits (9-12 total).
nsn = st.builds(
    lambda rest: "8" + rest,
    st.text(alphabet="0123456789", min_size=8, max_size=11),
)


@st.composite
def grouped(draw, digits: str):
    """`digits` split into groups joined by spaces, dashes or dots."""
    out, i = [], 0
    while i < len(digits):
        size = draw(st.integers(1, 5))
        out.append(digits[i : i + size])
        i += size
    sep = draw(st.sampled_from([" ", "-", ".", " - "]))
    return sep.join(out)


@st.composite
def renderings(draw, national: str):
    """One of the ways people (and Telegram) write the same Indonesian mobile number."""
    g = draw(grouped(national))
    return draw(
        st.sampled_from(
            [
                "0" + national,
                "62" + national,
                "+62" + national,
                "+62 " + g,
                "0062 " + g,
                "(+62) " + g,
                "+62 (0)" + g,
                "0" + g,
                "(0" + national[:3] + ") " + national[3:],
                g,  # bare national number starting with 8
                f"  {'0' + national}\t",
            ]
        )
    )


# ---------------------------------------------------------------------------------
# Examples
# ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "raw",
    [
        "08121000001",
        "628121000001",
        "+628121000001",
        "+62 812-1000-001",
        "0062 812 1000 001",
        "(+62) 812 1000 001",
        "812-1000-001",
        "0812.1000.001",
        "+62 (0)812-1000-001",
        " 0812 1000 001 ",
    ],
)
def test_accepted_formats(raw):
    assert normalize_phone(raw) == "628121000001"


def test_telegram_contact_forms():
    assert normalize_phone("628121000001", international=True) == "628121000001"
    assert normalize_phone("+628121000001", international=True) == "628121000001"
    # In Telegram's international form a bare 81... is Japan, not a local 0812...
    assert _err("819012345678", international=True).code == "foreign"
    assert normalize_phone("819012345678") == "62819012345678"


@pytest.mark.parametrize(
    "raw",
    ["+1 415 555 2671", "+65 9123 4567", "+60 12-345 6789", "0065 9123 4567", "+0812100001"],
)
def test_foreign_rejected(raw):
    err = _err(raw)
    assert err.code == "foreign"
    assert "Indonesia" in str(err)


@pytest.mark.parametrize(
    "raw", ["021-8888-9999", "(021) 888 9999", "+62 21 8888 9999", "62218889999"]
)
def test_landline_rejected(raw):
    err = _err(raw)
    assert err.code == "not_mobile"
    assert "bukan nomor HP" in str(err)
    assert str(err).startswith("Nomor 021")


@pytest.mark.parametrize(
    "raw, code",
    [
        ("", "empty"),
        ("   ", "empty"),
        ("+", "empty"),
        ("0812", "length"),
        ("08121234", "length"),  # 7-digit national part
        ("08121234567890", "length"),  # 13-digit national part
        ("0812-abc-001", "chars"),
        ("0812+1000001", "chars"),
        ("62", "length"),
        ("7123456789", "prefix"),
        ("6512345678", "prefix"),
    ],
)
def test_other_errors(raw, code):
    err = _err(raw)
    assert err.code == code
    assert str(err)


def test_length_bounds():
    assert normalize_phone("0812345678") == "62812345678"  # 9-digit national part
    assert normalize_phone("0812345678901") == "62812345678901"  # 12-digit national part
    assert "terlalu pendek" in str(_err("081234567"))
    assert "terlalu panjang" in str(_err("08123456789012"))


def test_display_and_mask_examples():
    assert display_phone("6281210000001") == "0812-1000-0001"
    assert display_phone("628121000001") == "0812-1000-001"
    assert display_phone("62812345678") == "0812-345-678"
    assert display_phone("62812345678901") == "0812-345-678-901"
    assert display_phone("+62 812-1000-0001") == "0812-1000-0001"
    assert mask_phone("6281210000001") == "0812****0001"
    assert mask_phone("628121000001") == "0812****0001"
    # Invalid input: display passes it through, mask never echoes it whole.
    assert display_phone(" 021-888 ") == "021-888"
    assert mask_phone("+1 415 555 2671") == "1415****2671"
    assert mask_phone("12345") == "****"
    assert mask_phone("") == "****"


# ---------------------------------------------------------------------------------
# Properties
# ---------------------------------------------------------------------------------


@given(st.data(), nsn)
def test_every_format_normalises_to_same_value(data, national):
    raw = data.draw(renderings(national))
    assert normalize_phone(raw) == "62" + national


@given(nsn)
def test_normalize_is_idempotent_on_valid(national):
    once = normalize_phone("0" + national)
    assert normalize_phone(once) == once
    assert normalize_phone(once, international=True) == once
    assert normalize_phone("+" + once, international=True) == once


@given(st.text(alphabet="0123456789+-() .", max_size=20))
def test_normalize_is_idempotent_on_anything_it_accepts(raw):
    try:
        once = normalize_phone(raw)
    except PhoneError as e:
        assert e.code and str(e)
        return
    assert normalize_phone(once) == once
    assert once.startswith("628") and once.isdigit()
    assert 11 <= len(once) <= 14


@given(st.text(alphabet="0123456789", min_size=1, max_size=14), st.booleans())
def test_foreign_country_codes_rejected(digits, use_00):
    assume(not digits.startswith("62"))
    raw = ("00" if use_00 else "+") + digits
    assert _err(raw).code == "foreign"


@given(st.sampled_from("123456789"), st.text(alphabet="0123456789", min_size=6, max_size=12))
def test_bare_numbers_are_international_for_telegram(first, rest):
    digits = first + rest
    assume(not digits.startswith("62"))
    assert _err(digits, international=True).code == "foreign"


@given(nsn)
def test_display_and_mask_round_trip(national):
    e164 = "62" + national
    shown = display_phone(e164)
    assert shown.startswith("0" + national[:3] + "-")
    assert normalize_phone(shown) == e164
    masked = mask_phone(e164)
    local = "0" + national
    assert masked == local[:4] + "****" + local[-4:]
