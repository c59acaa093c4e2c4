"""Invented e-KTP-like cards drawn with Pillow, photographed the ways applicants photograph them.

Used by `make evaluate-ocr` (scripts/evaluate_ocr.py), by `make bench-rush` (each applicant sends a
card with their own details) and by the e-KTP reader's tests. Everything is deterministic by seed:
the same seed gives the same people, the same cards and the same JPEG bytes.

The people are invented (names combined from common Indonesian given names, places from a fixed
list, NIKs built from real Kemendagri region codes so they pass the structural checks). The card
follows the e-KTP's layout (ID-1 format, light-blue background with a faint pattern, province and
regency on top, `NIK : …` in a large bold font, the fields with a colon column, the portrait on the
right); fonts are Debian's DejaVu and Liberation families where installed (`fc-list`), Pillow's
built-in font otherwise. A photo puts the card on a table and varies the font, text size, rotation,
perspective, blur, light, noise, photo size and JPEG quality."""

from __future__ import annotations

import functools
import io
import math
import random
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

from PIL import Image, ImageDraw, ImageFilter, ImageFont

from antrean.identity import regions
from antrean.identity.ektp import homography

CARD_SIZE = (1284, 810)  # 15 px per mm of the ID-1 card (85.6 x 54 mm)
FONT_DIRS = (Path("/usr/share/fonts/truetype/dejavu"), Path("/usr/share/fonts/truetype/liberation"))
# (regular, bold) file names per family: sans, condensed, narrow, serif and monospaced faces.
FAMILIES = (
    ("LiberationSans-Regular.ttf", "LiberationSans-Bold.ttf"),
    ("DejaVuSans.ttf", "DejaVuSans-Bold.ttf"),
    ("DejaVuSansCondensed.ttf", "DejaVuSansCondensed-Bold.ttf"),
    ("LiberationSansNarrow-Regular.ttf", "LiberationSansNarrow-Bold.ttf"),
    ("LiberationSerif-Regular.ttf", "LiberationSerif-Bold.ttf"),
    ("DejaVuSerif.ttf", "DejaVuSerif-Bold.ttf"),
    ("LiberationMono-Regular.ttf", "LiberationMono-Bold.ttf"),
    ("DejaVuSansMono.ttf", "DejaVuSansMono-Bold.ttf"),
)

GIVEN = ("ADI", "AGUS", "AHMAD", "AISYAH", "ANDI", "ANISA", "ARIF", "AYU", "BAYU", "BUDI", "CAHYA", "DEDI", "DEWI",
         "DIAN", "DIMAS", "EKA", "ENDANG", "FAJAR", "FITRI", "GALIH", "HADI", "HENDRA", "IKA", "INDAH", "IRFAN",
         "JOKO", "KARTIKA", "LESTARI", "LINDA", "MAYA", "NANDA", "NUR", "PUTRI", "RATNA", "REZA", "RINA", "RUDI",
         "SARI", "SETIAWAN", "SITI", "SRI", "TAUFIK", "TIARA", "UTAMI", "WAHYU", "WULAN", "YANTI", "YOGA", "YUSUF",
         "ZAHRA", "RIZKY", "KHAIRUL", "MUHAMMAD", "NURHALIZA", "PRATAMA", "SAPUTRA", "HIDAYAT", "KURNIAWAN",
         "WIJAYA", "SANTOSO", "LUBIS", "NASUTION", "SIREGAR", "SIMANJUNTAK", "HUTAPEA", "PANJAITAN", "GINTING",
         "TAMBUNAN", "SEMBIRING", "PURBA", "RAHMAWATI", "HANDAYANI", "SUSANTI", "MARPAUNG", "MAULANA", "FIRMANSYAH")
FEMALE = frozenset({"AISYAH", "ANISA", "AYU", "DEWI", "FITRI", "IKA", "INDAH", "KARTIKA", "LESTARI", "LINDA", "MAYA",
                    "PUTRI", "RATNA", "RINA", "SARI", "SITI", "SRI", "TIARA", "UTAMI", "WULAN", "YANTI", "ZAHRA",
                    "NURHALIZA", "RAHMAWATI", "HANDAYANI", "SUSANTI"})
PLACES = ("BATAM", "TANJUNG PINANG", "JAKARTA", "MEDAN", "PADANG", "PEKANBARU", "PALEMBANG", "BANDUNG", "SEMARANG",
          "SURABAYA", "MAKASSAR", "PONTIANAK", "BUKITTINGGI", "PEMATANGSIANTAR", "KARIMUN", "TEBING TINGGI",
          "YOGYAKARTA", "MALANG", "BALIKPAPAN", "MANADO", "KUPANG", "AMBON", "JAMBI", "BENGKULU", "SOLOK")
STREETS = ("JL. RAYA SEKUPANG", "JL. MERDEKA", "PERUM TIBAN INDAH", "JL. ANGGREK", "KOMP. BUMI INDAH", "JL. SUDIRMAN",
           "PERUM CENTRAL RAYA", "JL. DIPONEGORO", "JL. HANG TUAH", "BLOK C")
RELIGIONS = ("ISLAM", "KRISTEN", "KATOLIK", "HINDU", "BUDDHA", "KONGHUCU")
JOBS = ("KARYAWAN SWASTA", "WIRASWASTA", "PELAJAR/MAHASISWA", "MENGURUS RUMAH TANGGA", "PEGAWAI NEGERI SIPIL",
        "PEDAGANG", "GURU", "BURUH HARIAN LEPAS")
# Regencies the cards are issued in (the NIK's first four digits), with a district of each.
REGENCIES = ("2171", "2172", "2101", "1371", "1275", "3173", "3273", "3578", "7371", "6171", "1471", "5171")


@dataclass(frozen=True)
class Person:
    nik: str
    name: str
    birth_place: str
    birth_date: date
    sex: str  # "L" or "P"
    address: str
    province: str
    regency: str

    @property
    def sex_label(self) -> str:
        return "LAKI-LAKI" if self.sex == "L" else "PEREMPUAN"


@dataclass(frozen=True)
class Shot:
    """How one photo of a card was taken (all the varied conditions, for the evaluation's report)."""

    family: int
    text_scale: float  # field text size relative to the usual
    photo_size: tuple[int, int]
    card_share: float  # the card's width as a share of the photo's
    rotation: float  # degrees
    perspective: float  # largest corner shift, share of the card's width
    blur: float  # Gaussian radius in photo pixels
    light: float  # overall brightness factor
    shade: float  # brightness falling from one side to the other (0: even)
    noise: float  # sensor-noise sigma
    quality: int  # JPEG quality
    background: tuple[int, int, int]


@functools.cache
def font_files() -> tuple[tuple[Path, Path], ...]:
    """The installed font families (regular, bold), in a fixed order; empty if none is installed."""
    found = []
    for regular, bold in FAMILIES:
        paths = [next((d / name for d in FONT_DIRS if (d / name).exists()), None) for name in (regular, bold)]
        if all(paths):
            found.append((paths[0], paths[1]))
    return tuple(found)


@functools.cache
def _font(family: int, bold: bool, size: int):
    families = font_files()
    if not families:
        return ImageFont.load_default(size=size)
    return ImageFont.truetype(str(families[family % len(families)][1 if bold else 0]), size)


def invent_person(rng: random.Random, today: date = date(2026, 12, 1)) -> Person:
    sex = rng.choice("LP")
    words = [w for w in GIVEN if (w in FEMALE) == (sex == "P")] if rng.random() < 0.7 else list(GIVEN)
    name = " ".join(rng.sample(words, rng.choice((1, 2, 2, 2, 3, 3))))
    if len(name) < 4:
        name += " " + rng.choice(GIVEN)
    # Adults and a few minors, up to 80 years old.
    birth = today - timedelta(days=rng.randint(8 * 365, 80 * 365))
    regency = rng.choice(REGENCIES)
    districts = [c for c in regions.district_codes() if c.startswith(regency)] or [regency + "01"]
    district = rng.choice(districts)
    day = birth.day + (40 if sex == "P" else 0)
    nik = f"{district}{day:02d}{birth.month:02d}{birth.year % 100:02d}{rng.randint(1, 2999):04d}"
    address = f"{rng.choice(STREETS)} NO. {rng.randint(1, 120)}"
    return Person(nik=nik, name=name, birth_place=rng.choice(PLACES), birth_date=birth, sex=sex, address=address,
                  province=(regions.province_name(regency[:2]) or "").upper(),
                  regency=(regions.regency_name(regency) or "").upper().replace("KABUPATEN ", "KABUPATEN "))


def draw_card(person: Person, family: int = 0, text_scale: float = 1.0,
              rng: random.Random | None = None) -> Image.Image:
    """The card face, upright and flat, CARD_SIZE pixels."""
    rng = rng or random.Random(person.nik)
    width, height = CARD_SIZE
    u = width / 856  # layout units: the card is 856 units wide
    card = Image.new("RGB", CARD_SIZE, (178, 214, 236))
    draw = ImageDraw.Draw(card)
    # The faint guilloche and gradient of the real card's background.
    for i in range(0, width, 6):
        draw.line([(i, 0), (i, height)], fill=(172 + (i // 6) % 10, 208 + (i // 9) % 8, 234), width=3)
    for k in range(14):
        phase, amplitude = rng.uniform(0, 6.3), rng.uniform(8, 30) * u
        points = [(x, (40 + k * 38) * u + amplitude * math.sin(x / (40 * u) + phase)) for x in range(0, width, 8)]
        draw.line(points, fill=(160, 198, 228), width=2)
    ink = (24, 24, 28)
    title = _font(family, True, int(27 * u))
    for y, line in ((16, f"PROVINSI {person.province}"), (48, person.regency)):
        w = draw.textlength(line, font=title)
        draw.text(((width - w) / 2, y * u), line, font=title, fill=ink)
    nik_font = _font(family, True, int(36 * text_scale * u))
    draw.text((24 * u, 92 * u), "NIK", font=nik_font, fill=ink)
    draw.text((150 * u, 92 * u), ":", font=nik_font, fill=ink)
    draw.text((172 * u, 92 * u), person.nik, font=nik_font, fill=ink)
    fields = [
        ("Nama", person.name),
        ("Tempat/Tgl Lahir", f"{person.birth_place}, {person.birth_date:%d-%m-%Y}"),
        ("Jenis Kelamin", person.sex_label + "      Gol. Darah : " + rng.choice(("A", "B", "O", "AB", "-"))),
        ("Alamat", person.address),
        ("   RT/RW", f"{rng.randint(1, 15):03d}/{rng.randint(1, 12):03d}"),
        ("   Kel/Desa", rng.choice(("TIBAN BARU", "SUNGAI PANAS", "BATU SELICIN", "BELIAN", "SADAI"))),
        ("   Kecamatan", rng.choice(("SEKUPANG", "BATAM KOTA", "LUBUK BAJA", "NONGSA", "BENGKONG"))),
        ("Agama", rng.choice(RELIGIONS)),
        ("Status Perkawinan", rng.choice(("KAWIN", "BELUM KAWIN", "CERAI HIDUP"))),
        ("Pekerjaan", rng.choice(JOBS)),
        ("Kewarganegaraan", "WNI"),
        ("Berlaku Hingga", "SEUMUR HIDUP"),
    ]
    label_font = _font(family, False, int(19 * text_scale * u))
    value_font = _font(family, False, int(19 * text_scale * u))
    step = 29 * min(text_scale, 1.05)
    for i, (label, value) in enumerate(fields):
        y = (150 + i * step) * u
        # A wide face (monospaced) would run a long label into the colon: such labels shrink.
        font = label_font
        if draw.textlength(label, font=font) > 184 * u:
            font = _font(family, False, int(19 * text_scale * u * 184 * u / draw.textlength(label, font=font)))
        draw.text((24 * u, y), label, font=font, fill=ink)
        draw.text((214 * u, y), ":", font=value_font, fill=ink)
        draw.text((228 * u, y), value, font=value_font, fill=ink)
    # The portrait (red background, a face), the place and date of issue, a signature.
    px, py = 640 * u, 120 * u
    draw.rectangle([px, py, px + 180 * u, py + 230 * u], fill=(196, 40, 44))
    draw.ellipse([px + 45 * u, py + 40 * u, px + 135 * u, py + 140 * u], fill=(196, 150, 118))
    draw.rectangle([px + 30 * u, py + 150 * u, px + 150 * u, py + 230 * u], fill=(30, 30, 60))
    small = _font(family, False, int(16 * u))
    for y, line in ((362, person.regency), (384, f"{rng.randint(1, 28):02d}-{rng.randint(1, 12):02d}-2019")):
        w = draw.textlength(line, font=small)
        draw.text((px + 90 * u - w / 2, y * u), line, font=small, fill=ink)
    scribble = [(px + (20 + 14 * k) * u, (440 + rng.uniform(-14, 14)) * u) for k in range(11)]
    draw.line(scribble, fill=(40, 40, 90), width=max(1, int(2 * u)))
    return card


def random_shot(rng: random.Random) -> Shot:
    size = rng.choice(((1600, 1200), (1600, 1200), (1280, 960), (1200, 1600), (1024, 768), (2000, 1500)))
    portrait = size[1] > size[0]
    return Shot(
        family=rng.randrange(max(1, len(font_files()))),
        text_scale=rng.uniform(0.9, 1.08),
        photo_size=size,
        card_share=rng.uniform(0.82, 0.95) if portrait else rng.uniform(0.6, 0.9),
        rotation=rng.uniform(-8, 8),
        perspective=rng.uniform(0, 0.05),
        blur=rng.choice((0, 0, 0.4, 0.7, 1.0, 1.3)),
        light=rng.uniform(0.7, 1.12),
        shade=rng.uniform(0, 0.35),
        noise=rng.choice((0, 2, 4, 6)),
        quality=rng.choice((45, 60, 70, 75, 80, 90)),
        background=rng.choice(((110, 85, 60), (140, 104, 70), (60, 60, 64), (205, 200, 190), (40, 34, 30),
                               (90, 110, 90))),
    )


def photograph(card: Image.Image, shot: Shot, rng: random.Random) -> bytes:
    """A JPEG of the card lying on a table, taken as `shot` says."""
    import numpy as np

    width, height = shot.photo_size
    card_w = width * shot.card_share
    card_h = card_w * CARD_SIZE[1] / CARD_SIZE[0]
    cx, cy = width / 2 + rng.uniform(-0.04, 0.04) * width, height / 2 + rng.uniform(-0.04, 0.04) * height
    angle = math.radians(shot.rotation)
    corners = []
    for sx, sy in ((-1, -1), (1, -1), (1, 1), (-1, 1)):
        x, y = sx * card_w / 2, sy * card_h / 2
        jx, jy = (rng.uniform(-1, 1) * shot.perspective * card_w for _ in range(2))
        corners.append((cx + x * math.cos(angle) - y * math.sin(angle) + jx,
                        cy + x * math.sin(angle) + y * math.cos(angle) + jy))
    source = [(0, 0), (CARD_SIZE[0], 0), CARD_SIZE, (0, CARD_SIZE[1])]
    coefficients = perspective_coefficients(corners, source)
    grain = np.random.default_rng(rng.randrange(2**32))
    # The table's texture: coarse noise, enlarged (cheap, and a table is not sharp grain anyway).
    texture = grain.normal(0, 7, (height // 8 + 1, width // 8 + 1)).astype(np.float32)
    texture = Image.fromarray(np.clip(128 + texture, 0, 255).astype(np.uint8)).resize(shot.photo_size)
    photo = Image.merge("RGB", [texture.point(lambda v, base=base: max(0, min(255, base + v - 128)))
                                for base in shot.background])
    warped = card.transform(shot.photo_size, Image.Transform.PERSPECTIVE, coefficients, Image.Resampling.BICUBIC)
    mask = Image.new("L", CARD_SIZE, 0)
    ImageDraw.Draw(mask).rounded_rectangle([0, 0, CARD_SIZE[0] - 1, CARD_SIZE[1] - 1], radius=48, fill=255)
    mask = mask.transform(shot.photo_size, Image.Transform.PERSPECTIVE, coefficients, Image.Resampling.BILINEAR)
    photo.paste(warped, mask=mask)
    if shot.blur:
        photo = photo.filter(ImageFilter.GaussianBlur(shot.blur))
    along = width if rng.random() < 0.5 else height
    if shot.light == 1 and not shot.shade and not shot.noise:
        out = io.BytesIO()
        photo.save(out, "JPEG", quality=shot.quality)
        return out.getvalue()
    # Light: an overall factor and a shade falling across the photo, as one multiplying layer.
    ramp = np.linspace(1 - shot.shade / 2, 1 + shot.shade / 2, along, dtype=np.float32) * shot.light
    gain = np.broadcast_to(ramp[None, :] if along == width else ramp[:, None], (height, width))
    pixels = np.asarray(photo, dtype=np.float32) * gain[:, :, None]
    if shot.noise:
        pixels += (grain.standard_normal((height, width), dtype=np.float32) * shot.noise)[:, :, None]
    photo = Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8))
    out = io.BytesIO()
    photo.save(out, "JPEG", quality=shot.quality)
    return out.getvalue()


def perspective_coefficients(target: list[tuple[float, float]], source: list[tuple[float, float]]) -> list[float]:
    """Pillow's PERSPECTIVE data mapping each point of `target` (output) to `source` (input)."""
    matrix = homography(target, source)
    return list((matrix / matrix[2, 2]).ravel()[:8])


@dataclass(frozen=True)
class Sample:
    person: Person
    shot: Shot
    jpeg: bytes


def samples(count: int, seed: int = 1) -> list[Sample]:
    """`count` invented people, each with one photo of their card; the same seed, the same bytes."""
    rng = random.Random(seed)
    out = []
    for _ in range(count):
        person = invent_person(rng)
        shot = random_shot(rng)
        card = draw_card(person, shot.family, shot.text_scale, random.Random(rng.randrange(2**32)))
        out.append(Sample(person, shot, photograph(card, shot, random.Random(rng.randrange(2**32)))))
    return out


def photo_of(person: Person, seed: int = 0) -> bytes:
    """One ordinary photo of `person`'s card (plain shot: for tests and the rush benchmark)."""
    rng = random.Random(seed)
    shot = Shot(family=0, text_scale=1.0, photo_size=(1600, 1200), card_share=0.8, rotation=rng.uniform(-3, 3),
                perspective=0.01, blur=0, light=1.0, shade=0, noise=0, quality=75, background=(110, 85, 60))
    return photograph(draw_card(person, 0, 1.0, random.Random(seed)), shot, rng)
