"""The browser-test helpers alone: chromium.py's CDP driver against data: pages
in Debian's headless Chromium, and png_check.py against PNGs made here (every
filter type, and the single-colour image it must call blank).

Run by chromium_test.sh with /usr/bin/python3.
"""
import os
import socket
import struct
import tempfile
import unittest
import zlib

from chromium import Browser, ChromiumError, JavaScriptError
from png_check import check_not_blank, decode


def write_png(path, rows, channels=4, filters=None):
    """A PNG of `rows` (lists of pixel tuples), 8-bit, filtered row by row
    with `filters` (filter type per row, cycling; default 0): a test encoder
    for the decoder's five filter types."""
    colour_type = {1: 0, 2: 4, 3: 2, 4: 6}[channels]
    height, width = len(rows), len(rows[0])
    raw, prev = bytearray(), bytes(width * channels)
    for y, pixels in enumerate(rows):
        row = bytes(v for p in pixels for v in p)
        kind = (filters or [0])[y % len(filters or [0])]
        out = bytearray()
        for i, x in enumerate(row):
            a = row[i - channels] if i >= channels else 0
            b = prev[i]
            c = prev[i - channels] if i >= channels else 0
            if kind == 0:
                pred = 0
            elif kind == 1:
                pred = a
            elif kind == 2:
                pred = b
            elif kind == 3:
                pred = (a + b) >> 1
            else:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                pred = a if pa <= pb and pa <= pc else (b if pb <= pc else c)
            out.append((x - pred) & 0xFF)
        raw += bytes([kind]) + out
        prev = row

    def chunk(kind, body):
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
    with open(path, "wb") as f:
        f.write(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, colour_type, 0, 0, 0))
                + chunk(b"IDAT", zlib.compress(bytes(raw))) + chunk(b"IEND", b""))


class PngCheckTest(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.mkdtemp()

    def test_every_filter_type_decodes_to_the_pixels(self):
        # A fixed pseudo-random 7x10 RGBA image, rows filtered 0,1,2,3,4,...
        seed, rows = 12345, []
        for _ in range(10):
            row = []
            for _ in range(7):
                seed = (seed * 1103515245 + 12345) % (1 << 31)
                row.append(tuple((seed >> s) & 0xFF for s in (0, 8, 16, 24)))
            rows.append(row)
        path = os.path.join(self.dir, "filters.png")
        write_png(path, rows, filters=[0, 1, 2, 3, 4])
        width, height, colours = decode(path)
        self.assertEqual((width, height), (7, 10))
        want = {}
        for row in rows:
            for p in row:
                want[bytes(p)] = want.get(bytes(p), 0) + 1
        self.assertEqual(colours, want)

    def test_single_colour_is_blank(self):
        for channels in (1, 3, 4):
            path = os.path.join(self.dir, f"blank{channels}.png")
            write_png(path, [[(200,) * channels] * 5] * 4, channels=channels, filters=[4, 1, 3])
            with self.assertRaisesRegex(ValueError, "blank: 5x4 with 1 distinct colour"):
                check_not_blank(path)

    def test_two_colours_are_not_blank(self):
        path = os.path.join(self.dir, "two.png")
        write_png(path, [[(0, 0, 0)] * 4, [(0, 0, 0)] * 3 + [(255, 255, 255)]], channels=3, filters=[2])
        self.assertEqual(check_not_blank(path), (4, 2, 2))

    def test_broken_files_are_errors(self):
        path = os.path.join(self.dir, "broken.png")
        with open(path, "wb") as f:
            f.write(b"GIF89a")
        with self.assertRaisesRegex(ValueError, "not a PNG"):
            decode(path)
        write_png(path, [[(1, 2, 3, 4)]])
        data = bytearray(open(path, "rb").read())
        data[-20] ^= 0xFF  # inside IDAT
        with open(path, "wb") as f:
            f.write(data)
        with self.assertRaisesRegex(ValueError, "CRC"):
            decode(path)


class ChromiumTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.browser = Browser(width=640, height=400, timeout=20)

    @classmethod
    def tearDownClass(cls):
        cls.browser.close()

    def setUp(self):
        self.b = self.browser
        self.dir = tempfile.mkdtemp()

    def test_navigate_type_click_evaluate(self):
        b = self.b
        page = ("data:text/html,<h1 id=title>Hello</h1><input id=name>"
                "<button id=go onclick=\"document.querySelector('h1').textContent = "
                "document.querySelector('input').value\">Go</button>")
        self.assertEqual(b.navigate(page), 200)  # Chromium answers data: URLs with 200
        self.assertEqual(b.text("#title"), "Hello")
        b.type("#name", "typed <b>text</b>")
        b.click("#go")
        self.assertEqual(b.wait_for("document.querySelector('h1').textContent !== 'Hello' && "
                                    "document.querySelector('h1').textContent"), "typed <b>text</b>")
        self.assertEqual(b.evaluate("new Promise(r => setTimeout(() => r([1, 'a']), 50))", await_promise=True),
                         [1, "a"])

    def test_errors_name_what_failed(self):
        b = self.b
        b.navigate("data:text/html,<p>nothing here</p>")
        with self.assertRaisesRegex(ChromiumError, "no element matches '#missing'"):
            b.click("#missing")
        with self.assertRaisesRegex(JavaScriptError, "ReferenceError"):
            b.evaluate("undefinedVariable + 1")
        self.assertIs(b.wait_for("document.querySelector('p')"), True)  # a node, truthy in JavaScript
        self.assertEqual(b.wait_for("[]"), [])
        with self.assertRaisesRegex(ChromiumError, r"timed out after 0.3 s waiting for the impossible"):
            b.wait_for("false", timeout=0.3, what="the impossible")
        with socket.socket() as s:  # a port nobody listens on
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        with self.assertRaisesRegex(ChromiumError, f"navigating to http://127.0.0.1:{port}/: .*ERR_CONNECTION_REFUSED"):
            b.navigate(f"http://127.0.0.1:{port}/")

    def test_dialogs_are_recorded_and_answered(self):
        b = self.b
        b.dialogs.clear()
        b.navigate("data:text/html,<p id=answer></p>"
                   "<button id=a onclick=\"alert('boo')\">a</button>"
                   "<button id=c onclick=\"document.querySelector('p').textContent = confirm('sure?')\">c</button>")
        b.click("#a")
        b.wait_for("true")  # the page answers again: the alert was dismissed
        b.click("#c")
        self.assertEqual(b.wait_for("document.querySelector('p').textContent"), "false")
        b.accept_dialogs = True
        b.click("#c")
        self.assertEqual(b.wait_for("document.querySelector('p').textContent === 'true' && 'yes'"), "yes")
        b.accept_dialogs = False
        self.assertEqual([(d["type"], d["message"]) for d in b.dialogs],
                         [("alert", "boo"), ("confirm", "sure?"), ("confirm", "sure?")])

    def test_screenshots(self):
        b = self.b
        b.navigate("data:text/html,<body style='background:%23fff'><h1>Some text</h1></body>")
        width, height, colours = check_not_blank(b.screenshot(os.path.join(self.dir, "text.png")))
        self.assertEqual((width, height), (640, 400))
        self.assertGreater(colours, 2)
        b.navigate("data:text/html,<body style='margin:0'><div style='height:1000px'>tall</div></body>")
        self.assertEqual(decode(b.screenshot(os.path.join(self.dir, "tall.png"), full_page=True))[:2], (640, 1000))
        b.navigate("data:text/html,<body style='background:%2300f'></body>")
        with self.assertRaisesRegex(ValueError, "blank: 640x400 with 1 distinct colour"):
            check_not_blank(b.screenshot(os.path.join(self.dir, "blue.png")))


if __name__ == "__main__":
    unittest.main()
