"""The seal image (印章图像): what is drawn, that it is stable, and what uploads are refused."""
import io
import struct
import zlib

import pytest
from PIL import Image

from gongwen_seal import image
from gongwen_seal.image import SEAL_RED, render_seal_png, validate_uploaded_png

UNIT_NAME = "北京市人民政府办公厅"


def opened(data):
    seal = Image.open(io.BytesIO(data))
    seal.load()
    return seal


def opaque_red(pixel):
    return pixel[3] > 200 and pixel[:3] == SEAL_RED


def test_the_seal_is_a_transparent_png_of_the_size_asked():
    for size in (480, 200):
        seal = opened(render_seal_png(UNIT_NAME, size=size))
        assert (seal.format, seal.mode, seal.size) == ("PNG", "RGBA", (size, size))
        assert seal.getpixel((0, 0))[3] == 0 and seal.getpixel((size - 1, size - 1))[3] == 0
    assert opened(render_seal_png(UNIT_NAME)).size == (480, 480)


def test_red_ring_centre_star_and_name_on_the_upper_arc():
    size = 480
    seal = opened(render_seal_png(UNIT_NAME, size=size))
    centre, radius = size // 2, size / 2
    pixels = [seal.getpixel((x, y)) for x in range(0, size, 4) for y in range(0, size, 4)]
    assert sum(opaque_red(p) for p in pixels) > len(pixels) * 0.10
    # Everything drawn is the one seal red: only alpha varies, for smooth edges.
    assert {p[:3] for p in pixels} == {SEAL_RED}
    # The ring, at every compass point.
    for dx, dy in ((0, 1), (0, -1), (1, 0), (-1, 0)):
        assert opaque_red(seal.getpixel((round(centre + dx * 0.92 * radius), round(centre + dy * 0.92 * radius))))
    # The star: solid at the centre and at its top point, clear between its arms and the ring.
    assert opaque_red(seal.getpixel((centre, centre)))
    assert opaque_red(seal.getpixel((centre, round(centre - 0.25 * radius))))
    assert seal.getpixel((round(centre - 0.4 * radius), centre))[3] == 0
    assert seal.getpixel((centre, round(centre + 0.4 * radius)))[3] == 0
    # The name: ink around 12 o'clock inside the ring, none in the bottom of the ring's interior.
    top = seal.crop((centre - 40, round(centre - 0.8 * radius), centre + 40, round(centre - 0.5 * radius)))
    assert sum(1 for a in top.getchannel("A").getdata() if a > 200) > 300
    bottom = seal.crop((centre - 60, round(centre + 0.55 * radius), centre + 60, round(centre + 0.8 * radius)))
    assert max(bottom.getchannel("A").getdata()) == 0


def test_the_name_changes_only_the_upper_arc():
    one, other = opened(render_seal_png(UNIT_NAME)), opened(render_seal_png("国务院办公厅"))
    assert one.tobytes() != other.tobytes()
    lower = (0, 360, 480, 480)
    assert one.crop(lower).tobytes() == other.crop(lower).tobytes()


def test_the_same_unit_always_gets_the_same_bytes():
    first = render_seal_png(UNIT_NAME)
    assert render_seal_png(UNIT_NAME) == first
    assert render_seal_png(f" {UNIT_NAME[:3]} {UNIT_NAME[3:]}\n") == first  # whitespace is not part of a name
    info = opened(first).info
    assert not {"tIME", "date:create", "Creation Time"} & set(info) and b"tIME" not in first


def test_long_and_one_character_names_still_render():
    for name in ("中华人民共和国国家发展和改革委员会办公厅文件交换中心", "局", "Gongwen 公文"):
        assert opened(render_seal_png(name, size=240)).size == (240, 240)


def test_bad_arguments_are_refused():
    for name in ("", "   ", None):
        with pytest.raises(ValueError):
            render_seal_png(name)
    with pytest.raises(ValueError):
        render_seal_png(UNIT_NAME, size=10)


def test_without_the_cjk_font_a_seal_is_still_drawn(monkeypatch):
    with_font = render_seal_png(UNIT_NAME)
    monkeypatch.setattr(image, "FONT_PATH", "/nonexistent/font.ttc")
    fallback = render_seal_png(UNIT_NAME)
    seal = opened(fallback)
    assert seal.size == (480, 480) and opaque_red(seal.getpixel((240, 240)))
    assert fallback != with_font  # drawn with PIL's own font (the name shows as boxes)


def png_bytes(width, height, mode="RGBA", **save):
    out = io.BytesIO()
    Image.new(mode, (width, height), (212, 0, 0, 255) if mode == "RGBA" else 0).save(out, format="PNG", **save)
    return out.getvalue()


def chunk(kind, data):
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def claimed_png(width, height):
    """A tiny PNG whose header claims ``width``×``height``: a decompression bomb's shape."""
    header = struct.pack(">IIBBBBB", width, height, 8, 6, 0, 0, 0)
    return (image.PNG_SIGNATURE + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\x00" * 64))
            + chunk(b"IEND", b""))


def test_sound_pngs_are_accepted():
    validate_uploaded_png(render_seal_png(UNIT_NAME))
    validate_uploaded_png(png_bytes(2048, 10))
    validate_uploaded_png(png_bytes(64, 64, mode="L"))


@pytest.mark.parametrize(("data", "kwargs", "message"), [
    (b"", {}, "empty"),
    (b"GIF89a" + b"\x00" * 100, {}, "not a PNG"),
    (b"\xff\xd8\xff\xe0" + b"\x00" * 100, {}, "not a PNG"),
    (png_bytes(64, 64), {"max_bytes": 50}, "larger than 50 bytes"),
    (png_bytes(2049, 1), {}, "at most 2048×2048"),
    (png_bytes(100, 100), {"max_side": 99}, "at most 99×99"),
    (claimed_png(100_000, 100_000), {}, "at most 2048×2048"),
    (claimed_png(100_000, 100_000), {"max_side": 1_000_000}, "too many pixels"),
    (claimed_png(1000, 1000), {}, "not a readable PNG"),  # far too little data for its size
    (png_bytes(64, 64)[:-30], {}, "not a readable PNG"),  # truncated
    (png_bytes(64, 64)[:40] + b"\x00" * 8 + png_bytes(64, 64)[48:], {}, "not a readable PNG"),  # CRC broken
    (image.PNG_SIGNATURE + b"\x00" * 40, {}, "not a readable PNG"),  # no IHDR
], ids=["empty", "gif", "jpeg", "bytes", "wide", "max_side", "bomb", "bomb_past_max_side", "short_data",
        "truncated", "crc", "no_ihdr"])
def test_bad_uploads_are_refused(data, kwargs, message):
    with pytest.raises(ValueError, match=message):
        validate_uploaded_png(data, **kwargs)


def test_an_animated_png_is_refused():
    frames = [Image.new("RGBA", (32, 32), colour) for colour in ((212, 0, 0, 255), (0, 0, 212, 255))]
    out = io.BytesIO()
    frames[0].save(out, format="PNG", save_all=True, append_images=frames[1:])
    with pytest.raises(ValueError, match="animated"):
        validate_uploaded_png(out.getvalue())
