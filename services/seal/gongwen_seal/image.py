"""The seal image (印章图像): the round red official seal drawn for a unit, and checks on uploaded ones.

The rendered seal follows the familiar form of a Chinese official seal: a thick red ring, a
five-pointed star in the centre and the unit's name running clockwise along the upper arc, each
character turned to face the centre. It is drawn at four times the size and scaled down, so
edges are smooth; the output depends only on the arguments (no timestamps or other metadata in
the PNG), so the same unit always gets the same bytes.
"""
import io
import math
import struct

from PIL import Image, ImageChops, ImageDraw, ImageFont

FONT_PATH = "/usr/share/fonts/truetype/wqy/wqy-microhei.ttc"
SEAL_RED = (212, 0, 0)
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_SUPERSAMPLE = 4
# Seals use tall, narrow characters; a sans font squeezed a little reads closer to the real thing.
_CHARACTER_WIDTH = 0.82
# Long names wrap further round the ring, but never past where the bottom text of a seal would go.
_MAX_SPAN = math.radians(240)
_MIN_SPAN = math.radians(120)


def _font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    try:
        return ImageFont.truetype(FONT_PATH, size)
    except OSError:
        # Without the CJK font the name may draw as boxes, but a seal image is still produced.
        return ImageFont.load_default(size=size)


def _character_tile(character: str, font, font_size: int, stroke: int) -> Image.Image:
    """One character as an alpha mask, centred in a square tile, upright."""
    side = int(font_size * 1.6)
    tile = Image.new("L", (side, side), 0)
    draw = ImageDraw.Draw(tile)
    left, top, right, bottom = draw.textbbox((0, 0), character, font=font, stroke_width=stroke)
    draw.text((side / 2 - (left + right) / 2, side / 2 - (top + bottom) / 2), character, font=font, fill=255,
              stroke_width=stroke, stroke_fill=255)
    return tile.resize((max(1, round(side * _CHARACTER_WIDTH)), side), Image.Resampling.LANCZOS)


def _stamp(mask: Image.Image, tile: Image.Image, centre_x: float, centre_y: float) -> None:
    x, y = round(centre_x - tile.width / 2), round(centre_y - tile.height / 2)
    box = (x, y, x + tile.width, y + tile.height)
    mask.paste(ImageChops.lighter(mask.crop(box), tile), box)


def _star(draw: ImageDraw.ImageDraw, centre: float, outer: float) -> None:
    inner = outer * math.sin(math.radians(18)) / math.sin(math.radians(126))  # a regular star's inner radius
    points = []
    for k in range(10):
        radius = outer if k % 2 == 0 else inner
        angle = math.radians(-90 + 36 * k)
        points.append((centre + radius * math.cos(angle), centre + radius * math.sin(angle)))
    draw.polygon(points, fill=255)


def render_seal_png(unit_name: str, *, size: int = 480) -> bytes:
    """PNG (RGBA, transparent background) of the round red seal of ``unit_name``, ``size`` pixels square."""
    name = "".join((unit_name or "").split())
    if not name:
        raise ValueError("unit_name is required")
    if not 64 <= size <= 4096:
        raise ValueError("size must be between 64 and 4096 pixels")
    side = size * _SUPERSAMPLE
    radius = side / 2
    mask = Image.new("L", (side, side), 0)
    draw = ImageDraw.Draw(mask)

    ring_outer, ring_width = radius * 0.96, radius * 0.085
    draw.ellipse((radius - ring_outer, radius - ring_outer, radius + ring_outer, radius + ring_outer), fill=255)
    ring_inner = ring_outer - ring_width
    draw.ellipse((radius - ring_inner, radius - ring_inner, radius + ring_inner, radius + ring_inner), fill=0)
    _star(draw, radius, radius * 0.30)

    # Characters sit just inside the ring; their centres lie on a circle of text_radius. The step
    # between them is what a character needs at that radius, spread over at least _MIN_SPAN and
    # squeezed (smaller characters) to at most _MAX_SPAN.
    count, gap = len(name), radius * 0.05
    font_size = radius * 0.29
    text_radius = ring_inner - gap - font_size / 2
    step = font_size * 1.05 / text_radius
    if count > 1:
        step = max(step, _MIN_SPAN / (count - 1))
        if step * (count - 1) > _MAX_SPAN:
            step = _MAX_SPAN / (count - 1)
            # a character's width must fit the chord between neighbours
            for _ in range(4):
                font_size = min(font_size, step * text_radius / 1.05 / _CHARACTER_WIDTH)
                text_radius = ring_inner - gap - font_size / 2
    font_size = max(8, round(font_size))
    font = _font(font_size)
    # A slight stroke gives the weight of seal lettering; PIL's bitmap fallback font cannot stroke.
    stroke = max(1, round(font_size * 0.025)) if isinstance(font, ImageFont.FreeTypeFont) else 0
    first = -step * (count - 1) / 2
    for index, character in enumerate(name):
        angle = first + index * step  # radians clockwise from 12 o'clock
        tile = _character_tile(character, font, font_size, stroke)
        # PIL rotates counter-clockwise; turning the character clockwise by the angle keeps its foot to the centre.
        tile = tile.rotate(-math.degrees(angle), resample=Image.Resampling.BICUBIC, expand=True)
        _stamp(mask, tile, radius + text_radius * math.sin(angle), radius - text_radius * math.cos(angle))

    alpha = mask.resize((size, size), Image.Resampling.LANCZOS)
    seal = Image.new("RGBA", (size, size), (*SEAL_RED, 0))
    seal.putalpha(alpha)
    out = io.BytesIO()
    seal.save(out, format="PNG", optimize=True)
    return out.getvalue()


def validate_uploaded_png(data: bytes, *, max_bytes: int = 512 * 1024, max_side: int = 2048) -> None:
    """Refuse (``ValueError``) an uploaded seal image that is not a sound, single-frame PNG of bounded size.

    The dimensions are read from the header before any pixel is decoded, and decoding itself is
    bounded by them, so a small file claiming a huge image (a decompression bomb) is refused cheaply.
    """
    if not isinstance(data, bytes | bytearray) or not data:
        raise ValueError("the seal image is empty")
    if len(data) > max_bytes:
        raise ValueError(f"the seal image is larger than {max_bytes} bytes")
    if not bytes(data[:8]) == PNG_SIGNATURE:
        raise ValueError("the seal image is not a PNG")
    # The first chunk must be IHDR (PNG §5.6); its size is checked before PIL sees the file.
    if len(data) < 33 or data[12:16] != b"IHDR":
        raise ValueError("the seal image is not a readable PNG")
    width, height = struct.unpack(">II", data[16:24])
    if width < 1 or height < 1 or width > max_side or height > max_side:
        raise ValueError(f"the seal image must be at most {max_side}×{max_side} pixels")
    # Only reachable with a max_side above ~9,000: PIL's own pixel limit, applied before decoding.
    if Image.MAX_IMAGE_PIXELS and width * height > Image.MAX_IMAGE_PIXELS:
        raise ValueError("the seal image decompresses to too many pixels")
    try:
        with Image.open(io.BytesIO(data), formats=["PNG"]) as image:
            frames, size = getattr(image, "n_frames", 1), image.size
            image.verify()  # chunk structure and CRCs
        with Image.open(io.BytesIO(data), formats=["PNG"]) as image:
            image.load()  # every row decodes (verify() does not decompress the pixels)
    except Image.DecompressionBombError as exc:
        raise ValueError("the seal image decompresses to too many pixels") from exc
    except Exception as exc:  # PIL raises OSError, SyntaxError, EOFError, ValueError … for corrupt files
        raise ValueError("the seal image is not a readable PNG") from exc
    if size != (width, height):
        raise ValueError("the seal image is not a readable PNG")
    if frames != 1:
        raise ValueError("the seal image must not be animated")
