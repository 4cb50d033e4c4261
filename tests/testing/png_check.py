"""png_check — decodes a PNG in pure Python and says whether it is blank.

    from png_check import decode, check_not_blank
    width, height, colours = decode("page.png")   # colours: {pixel bytes: count}
    check_not_blank("page.png")                   # ValueError unless >= 2 distinct colours

Handles what screenshots use: 8-bit greyscale, grey+alpha, RGB and RGBA,
non-interlaced (Chromium's Page.captureScreenshot writes 8-bit RGBA or RGB).
Anything else is a ValueError naming what it is, never a silent pass.

Decoding: 1. read the chunks (length, type, data, CRC checked); 2. inflate
the concatenated IDAT data; 3. undo each scanline's filter (None, Sub, Up,
Average, Paeth; PNG spec section 9) into the previous row; 4. count the
distinct pixel values. Cost: pure Python, about a second per megapixel.
"""
import struct
import sys
import zlib

_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_CHANNELS = {0: 1, 2: 3, 4: 2, 6: 4}  # colour type -> samples per pixel (8-bit samples)


def _chunks(data, path):
    if not data.startswith(_SIGNATURE):
        raise ValueError(f"{path}: not a PNG (no PNG signature)")
    pos = len(_SIGNATURE)
    while pos + 12 <= len(data):
        (length,) = struct.unpack(">I", data[pos:pos + 4])
        kind = data[pos + 4:pos + 8]
        body = data[pos + 8:pos + 8 + length]
        (crc,) = struct.unpack(">I", data[pos + 8 + length:pos + 12 + length])
        if len(body) != length or zlib.crc32(kind + body) != crc:
            raise ValueError(f"{path}: chunk {kind!r} at byte {pos} is truncated or its CRC is wrong")
        yield kind, body
        if kind == b"IEND":
            return
        pos += 12 + length
    raise ValueError(f"{path}: truncated (no IEND chunk)")


def _paeth(a, b, c):
    p = a + b - c
    pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
    if pa <= pb and pa <= pc:
        return a
    return b if pb <= pc else c


def _unfilter(kind, row, prev, bpp, path, y):
    """Row `row` (a bytearray, filtered) decoded in place against decoded row `prev`."""
    n = len(row)
    if kind == 0:
        return row
    if kind == 1:  # Sub
        for i in range(bpp, n):
            row[i] = (row[i] + row[i - bpp]) & 0xFF
    elif kind == 2:  # Up
        return bytearray((x + p) & 0xFF for x, p in zip(row, prev))
    elif kind == 3:  # Average
        for i in range(n):
            left = row[i - bpp] if i >= bpp else 0
            row[i] = (row[i] + ((left + prev[i]) >> 1)) & 0xFF
    elif kind == 4:  # Paeth
        for i in range(n):
            if i >= bpp:
                row[i] = (row[i] + _paeth(row[i - bpp], prev[i], prev[i - bpp])) & 0xFF
            else:
                row[i] = (row[i] + prev[i]) & 0xFF
    else:
        raise ValueError(f"{path}: row {y} has filter type {kind}, not 0..4")
    return row


def decode(path):
    """(width, height, colours) of the PNG at `path`; colours maps each
    distinct pixel value (its bytes) to how many pixels have it. Raises
    ValueError for a broken or unsupported PNG, naming what is wrong."""
    with open(path, "rb") as f:
        data = f.read()
    header, idat = None, []
    for kind, body in _chunks(data, path):
        if kind == b"IHDR":
            header = struct.unpack(">IIBBBBB", body)
        elif kind == b"IDAT":
            idat.append(body)
    if header is None:
        raise ValueError(f"{path}: no IHDR chunk")
    width, height, depth, colour_type, _, _, interlace = header
    if depth != 8 or colour_type not in _CHANNELS or interlace != 0:
        raise ValueError(f"{path}: bit depth {depth}, colour type {colour_type}, interlace {interlace}: "
                         "only 8-bit non-interlaced grey, grey+alpha, RGB and RGBA are supported")
    if width == 0 or height == 0:
        raise ValueError(f"{path}: empty image ({width}x{height})")
    bpp = _CHANNELS[colour_type]
    stride = width * bpp
    raw = zlib.decompress(b"".join(idat))
    if len(raw) != height * (stride + 1):
        raise ValueError(f"{path}: {len(raw)} bytes of pixel data, expected {height * (stride + 1)} "
                         f"for {width}x{height} with {bpp} bytes per pixel")
    colours = {}
    prev = bytearray(stride)
    for y in range(height):
        start = y * (stride + 1)
        row = _unfilter(raw[start], bytearray(raw[start + 1:start + 1 + stride]), prev, bpp, path, y)
        pixels = bytes(row)
        for x in range(0, stride, bpp):
            pixel = pixels[x:x + bpp]
            colours[pixel] = colours.get(pixel, 0) + 1
        prev = row
    return width, height, colours


def check_not_blank(path, min_colours=2):
    """Raises ValueError unless the PNG has at least `min_colours` distinct
    pixel values; returns (width, height, number of distinct colours)."""
    width, height, colours = decode(path)
    if len(colours) < min_colours:
        only = ", ".join(p.hex() for p in list(colours)[:4])
        raise ValueError(f"{path}: blank: {width}x{height} with {len(colours)} distinct colour(s) ({only}), "
                         f"expected at least {min_colours}")
    return width, height, len(colours)


if __name__ == "__main__":
    for arg in sys.argv[1:]:
        print(arg, *check_not_blank(arg))
