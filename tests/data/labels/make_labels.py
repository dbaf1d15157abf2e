"""Build the labelled photo set: rendered labels, stickers, boxes and listings with their truth.

Run `python tests/data/labels/make_labels.py` (needs `make fonts` and the dev dependencies).
It is deterministic (one seed): the same files come out every time, so the set can grow by
editing this script. Each `NNN-<layout>.jpg` has a `NNN-<layout>.json` beside it with what is
printed (number, model, holder, manufacturer, mark, QR) and the verdict it should get on
TODAY against `registry.csv` (importable with `weiquan ccc import`). Nothing is downloaded:
the pictures are drawn here with Pillow and Debian's Noto CJK fonts.
"""

from __future__ import annotations

import csv
import io
import json
import random
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import segno
from PIL import Image, ImageDraw, ImageEnhance, ImageFilter, ImageFont

HERE = Path(__file__).parent
TODAY = date(2026, 6, 1)
SEED = 1717
FONTS = Path("/usr/share/fonts/opentype/noto")
SC = 2  # face index of Simplified Chinese in the Noto CJK collections
COLUMNS = ("cert_no", "holder", "manufacturer", "product", "model", "category_code", "status",
           "issued_on", "expires_on")  # fmt: skip

# product (a catalogue word), category code, rating lines, model prefix
PRODUCTS = (
    ("移动电源", "0914", ("额定容量：10000mAh 37Wh", "输入：5V 2A", "输出：5V 3A 9V 2A"), "PB"),
    ("充电器", "0907", ("输入：100-240V~ 50/60Hz 0.5A", "输出：5V 2A 10W"), "CH"),
    ("电吹风", "0709", ("额定电压：220V~", "额定功率：1800W", "额定频率：50Hz"), "HD"),
    ("电风扇", "0702", ("额定电压：220V~ 50Hz", "额定功率：45W"), "FS"),
    ("插座", "0201", ("额定电压：250V~", "额定电流：10A", "最大功率：2500W"), "XB"),
    ("电磁炉", "0711", ("额定电压：220V~", "额定功率：2100W"), "IC"),
    ("吸尘器", "0708", ("额定电压：220V~", "额定功率：600W"), "VC"),
    ("台灯", "1001", ("额定电压：220V~", "光源功率：12W"), "TD"),
)
CITIES = ("深圳市", "东莞市", "宁波市", "苏州市", "佛山市", "中山市", "温州市", "厦门市")
FIRMS = (
    "安新",
    "华光",
    "远航",
    "恒达",
    "德信",
    "明辉",
    "新宇",
    "博瑞",
    "鑫源",
    "正昌",
    "启航",
    "联创",
)
TRADES = ("电子", "电器", "科技", "实业", "照明", "电源")
SUFFIXES = ("有限公司", "有限责任公司", "股份有限公司")
SHOP_WORDS = ("官方旗舰店", "数码专营店", "电器城", "优选店")
# scenario -> the verdict a consumer should get (bot.photocheck.types.Outcome values)
SCENARIOS = {
    "genuine": "looks_ok",
    "misuse_model": "misuse",
    "misuse_holder": "misuse",
    "revoked": "problem",
    # Expired: goods made while it was valid may still be sold, so the photo alone proves
    # nothing against today's sale (issue 15; the CCC check says LAPSED, no 退一赔三).
    "expired": "unclear",
    "unknown": "problem",
    "wrong_category": "problem",
    "no_number": "no_certificate",
}
DEGRADATIONS = ("rotate", "blur", "jpeg", "perspective", "lowlight")


def font(size: int, *, bold: bool = False, serif: bool = False) -> ImageFont.FreeTypeFont:
    name = (
        "NotoSerifCJK-Regular.ttc" if serif else f"NotoSansCJK-{'Bold' if bold else 'Regular'}.ttc"
    )
    return ImageFont.truetype(str(FONTS / name), size, index=SC)


@dataclass
class Cert:
    cert_no: str
    holder: str
    manufacturer: str
    product: str
    model: str
    category: str
    status: str
    issued: date
    expires: date

    def row(self) -> list[str]:
        return [self.cert_no, self.holder, self.manufacturer, self.product, self.model,
                self.category, self.status, self.issued.isoformat(), self.expires.isoformat()]  # fmt: skip


class Maker:
    def __init__(self) -> None:
        self.rng = random.Random(SEED)
        self.serial = 100
        self.registry: list[Cert] = []

    def company(self) -> str:
        r = self.rng
        return r.choice(CITIES) + r.choice(FIRMS) + r.choice(TRADES) + r.choice(SUFFIXES)

    def model(self, prefix: str) -> str:
        r = self.rng
        return f"{prefix}-{r.randrange(10, 99) * 100}{r.choice(['', 'S', 'A', 'Pro', 'X'])}"

    def number(self, year: int, category: str) -> str:
        self.serial += self.rng.randrange(1, 900)
        return f"{year}01{category}{self.serial:06d}"

    def certificate(self, scenario: str, product: tuple[Any, ...]) -> tuple[Cert, dict[str, str]]:
        """A registry row and what the label prints, made for the scenario."""
        r = self.rng
        name, category, _ratings, prefix = product
        holder = self.company()
        manufacturer = holder if r.random() < 0.5 else self.company()
        models = [self.model(prefix) for _ in range(r.randrange(1, 4))]
        year = r.randrange(2022, 2026)
        issued = date(year, r.randrange(1, 13), r.randrange(1, 28))
        expires = issued + timedelta(days=5 * 365)
        status = {"revoked": "撤销", "expired": "有效"}.get(scenario, "有效")
        if scenario == "expired":
            issued = date(r.randrange(2016, 2020), r.randrange(1, 13), r.randrange(1, 28))
            expires = issued + timedelta(days=5 * 365)
        cert_category = "0901" if scenario == "wrong_category" else category
        cert = Cert(self.number(issued.year, cert_category), holder, manufacturer, name,
                    "、".join(models), cert_category, status, issued, expires)  # fmt: skip
        printed = {"cert_no": cert.cert_no, "model": r.choice(models),
                   "holder": holder, "manufacturer": manufacturer}  # fmt: skip
        if scenario == "misuse_model":
            printed["model"] = self.model(prefix)
        if scenario == "misuse_holder":
            printed["holder"] = printed["manufacturer"] = self.company()
        if scenario == "no_number":
            printed["cert_no"] = ""
        if scenario not in ("unknown", "no_number"):
            self.registry.append(cert)
        return cert, printed


# --- drawing -------------------------------------------------------------------------------


def ccc_mark(size: int) -> Image.Image:
    """The CCC mark as a consumer sees it: "CCC" in a bold oval outline."""
    img = Image.new("RGBA", (size, int(size * 0.72)), (0, 0, 0, 0))
    d = ImageDraw.Draw(img)
    w, h = img.size
    d.ellipse((2, 2, w - 3, h - 3), outline="black", width=max(3, size // 22))
    f = font(int(h * 0.46), bold=True)
    box = d.textbbox((0, 0), "CCC", font=f)
    d.text(((w - box[2]) / 2, (h - box[3]) / 2 - box[1] / 2), "CCC", font=f, fill="black")
    return img


def qr_image(payload: str, scale: int) -> Image.Image:
    buf = io.BytesIO()
    segno.make(payload, error="m").save(buf, kind="png", scale=scale, border=2)
    return Image.open(buf).convert("RGB")


def text_block(lines: list[str], size: int, width: int, *, bg: str = "white",
               fg: str = "black", title: str = "", pad: int = 30) -> tuple[Image.Image, int]:  # fmt: skip
    f, tf = font(size), font(int(size * 1.4), bold=True)
    step = int(size * 1.65)
    height = pad * 2 + len(lines) * step + (int(size * 2.2) if title else 0)
    img = Image.new("RGB", (width, height), bg)
    d = ImageDraw.Draw(img)
    y = pad
    if title:
        d.text((pad, y), title, font=tf, fill=fg)
        y += int(size * 2.2)
    for line in lines:
        d.text((pad, y), line, font=f, fill=fg)
        y += step
    return img, y


def nameplate(m: Maker, product: tuple[Any, ...], printed: dict[str, str], *,
              mark: bool, qr: str | None) -> Image.Image:  # fmt: skip
    """A rating plate; prints 委托人 only when ``printed["holder"]`` is set."""
    r = m.rng
    name, _category, ratings, _prefix = product
    lines = [f"产品名称：{name}", f"型号：{printed['model']}", *ratings]
    if printed["cert_no"]:
        key = r.choice(["CCC证书编号：", "3C证书编号：", "认证证书编号："])
        lines.append(key + printed["cert_no"])
    lines.append(f"制造商：{printed['manufacturer']}")
    if printed["holder"]:
        lines.append(f"委托人：{printed['holder']}")
    lines.append("执行标准：GB 4943.1-2022" if r.random() < 0.5 else "中国制造")
    size = r.randrange(24, 30)
    width = max(820, int(size * 0.98 * max(len(s) for s in lines)) + 80)
    bg = r.choice(["white", "#f4f4f0", "#e9eef3", "#fbf7e8"])
    img, _ = text_block(lines, size, width, bg=bg)
    if mark:
        mk = ccc_mark(150)
        img.paste(mk, (img.width - 200, 25), mk)
    if qr:
        q = qr_image(qr, 4)
        img.paste(q, (img.width - q.width - 30, img.height - q.height - 30))
    return img


def sticker(m: Maker, printed: dict[str, str], *, qr: str | None) -> Image.Image:
    """A small CCC sticker: the mark, the certificate number, perhaps a model and a QR code."""
    r = m.rng
    img = Image.new("RGB", (760, 420), r.choice(["white", "#f7f7f7"]))
    mk = ccc_mark(260)
    img.paste(mk, (30, 40), mk)
    d = ImageDraw.Draw(img)
    f = font(30)
    d.text((320, 60), "强制性产品认证", font=font(34, bold=True), fill="black")
    d.text((320, 130), "证书编号：", font=f, fill="black")
    d.text((320, 180), printed["cert_no"], font=font(34), fill="black")
    d.text((30, 290), f"型号：{printed['model']}", font=f, fill="black")
    if qr:
        q = qr_image(qr, 4)
        img.paste(q, (img.width - q.width - 20, img.height - q.height - 15))
    return img


def box_side(m: Maker, product: tuple[Any, ...], printed: dict[str, str], *, mark: bool,
             qr: str | None) -> Image.Image:  # fmt: skip
    r = m.rng
    name, _category, ratings, _prefix = product
    lines = [f"规格型号：{printed['model']}", ratings[0]]
    if printed["cert_no"]:
        lines.append(f"CCC认证编号：{printed['cert_no']}")
    lines += [f"生产企业：{printed['manufacturer']}", f"地址：{r.choice(CITIES)}工业园{r.randrange(1, 99)}号",
              f"服务热线：400-{r.randrange(100, 999)}-{r.randrange(1000, 9999)}"]  # fmt: skip
    if printed["holder"]:
        lines.insert(-2, f"申请人：{printed['holder']}")
    color = r.choice(["#1d4e89", "#8a1c1c", "#205c36", "#333333"])
    img, y = text_block(lines, 26, 900, bg="#fafafa", title=f"{r.choice(FIRMS)}牌 {name}")
    d = ImageDraw.Draw(img)
    d.rectangle((0, 0, img.width, 12), fill=color)
    if mark:
        mk = ccc_mark(130)
        img.paste(mk, (img.width - 170, 30), mk)
    if qr:
        q = qr_image(qr, 3)
        img.paste(q, (img.width - q.width - 30, img.height - q.height - 20))
    return img


def listing(m: Maker, product: tuple[Any, ...], printed: dict[str, str]) -> Image.Image:
    """A phone screenshot of an online listing."""
    r = m.rng
    name = product[0]
    shop = r.choice(FIRMS) + r.choice(SHOP_WORDS)
    img = Image.new("RGB", (720, 1280), "white")
    d = ImageDraw.Draw(img)
    d.rectangle((0, 0, 720, 60), fill="#f2f2f2")
    d.text((24, 12), "12:30", font=font(26), fill="black")
    d.rectangle((0, 60, 720, 560), fill=r.choice(["#dfe7ef", "#efe6dc", "#e3efe1"]))
    d.rounded_rectangle((200, 160, 520, 470), 30, fill="#9aa5b1")
    d.text((24, 590), f"¥{r.randrange(29, 399)}.00", font=font(44, bold=True), fill="#e4393c")
    d.text((300, 604), f"月销 {r.randrange(1, 99)}00+  包邮", font=font(24), fill="#888888")
    title = f"{name} {printed['model']} 大容量 快充 正品"
    d.text((24, 680), title, font=font(30, bold=True), fill="black")
    y = 750
    lines = [f"品牌：{r.choice(FIRMS)}", f"型号：{printed['model']}"]
    if printed["cert_no"]:
        lines.append(f"3C认证编号：{printed['cert_no']}")
    lines.append(f"生产企业：{printed['manufacturer']}")
    for line in lines:
        d.text((24, y), line, font=font(26), fill="#333333")
        y += 50
    d.text((24, y + 20), shop, font=font(28, bold=True), fill="black")
    d.rectangle((0, 1180, 720, 1280), fill="#fafafa")
    d.rounded_rectangle((380, 1195, 540, 1265), 30, fill="#ff9900")
    d.rounded_rectangle((550, 1195, 710, 1265), 30, fill="#e4393c")
    d.text((400, 1212), "加入购物车", font=font(24), fill="white")
    d.text((578, 1212), "立即购买", font=font(24), fill="white")
    return img


def other_ids(m: Maker, kind: str) -> tuple[Image.Image, list[str], bool]:
    """Food, medicine or cosmetics packaging; returns the image, the numbers, shape ok."""
    r = m.rng
    ok = r.random() < 0.8
    if kind == "food":
        digit = "1" if ok else "3"
        number = f"SC{digit}{r.randrange(10**12, 10**13)}"
        lines = ["配料：小麦粉、白砂糖、植物油", "净含量：500g", f"食品生产许可证编号：{number}",
                 "生产日期：见包装", "保质期：12个月"]  # fmt: skip
        title = "全麦饼干"
    elif kind == "drug":
        letter = r.choice("HZS") if ok else "X"
        number = f"国药准字{letter}{r.randrange(10**7, 10**8)}"
        lines = ["【规格】0.25g×24粒", f"【批准文号】{number}", "【生产企业】" + m.company()]
        title = "阿莫西林胶囊"
    else:
        number = (f"国妆特字G{r.randrange(2021, 2026)}{r.randrange(1000, 9999)}" if ok
                  else f"国妆特字Q{r.randrange(2021, 2026)}{r.randrange(1000, 9999)}")  # fmt: skip
        if ok and r.random() < 0.5:
            number = f"粤G妆网备字{r.randrange(2021, 2026)}{r.randrange(100000, 999999)}"
        lines = ["成分：水、甘油、丁二醇", "净含量：50mL", number, "注册人：" + m.company()]
        title = "保湿修护面霜"
    img, _ = text_block(lines, 28, 860, bg="#fffdf6", title=title)
    return img, [number], ok


# --- degradations ----------------------------------------------------------------------------


def _perspective_coeffs(
    src: list[tuple[float, float]], dst: list[tuple[float, float]]
) -> list[float]:
    rows = []
    for (x, y), (u, v) in zip(dst, src, strict=True):
        rows.append([x, y, 1, 0, 0, 0, -u * x, -u * y])
        rows.append([0, 0, 0, x, y, 1, -v * x, -v * y])
    a = np.array(rows, dtype=float)
    b = np.array([c for p in src for c in p], dtype=float)
    return list(np.linalg.solve(a, b))


def degrade(img: Image.Image, kinds: list[str], rng: random.Random) -> Image.Image:
    img = img.convert("RGB")
    if "perspective" in kinds:
        w, h = img.size
        j = lambda s: rng.uniform(0, s)  # noqa: E731
        dst = [(j(w * 0.08), j(h * 0.08)), (w - j(w * 0.08), j(h * 0.08)),
               (w - j(w * 0.08), h - j(h * 0.08)), (j(w * 0.08), h - j(h * 0.08))]  # fmt: skip
        src = [(0, 0), (w, 0), (w, h), (0, h)]
        img = img.transform((w, h), Image.Transform.PERSPECTIVE, _perspective_coeffs(src, dst),
                            Image.Resampling.BICUBIC, fillcolor=(120, 110, 100))  # fmt: skip
    if "rotate" in kinds:
        angle = rng.choice([-1, 1]) * rng.uniform(4, 14)
        img = img.rotate(angle, Image.Resampling.BICUBIC, expand=True, fillcolor=(90, 85, 80))
    if "blur" in kinds:
        img = img.filter(ImageFilter.GaussianBlur(rng.uniform(1.0, 1.8)))
    if "lowlight" in kinds:
        img = ImageEnhance.Brightness(img).enhance(rng.uniform(0.3, 0.45))
        arr = np.asarray(img).astype(np.int16)
        noise = np.random.default_rng(rng.randrange(1 << 30)).normal(0, 9, arr.shape)
        img = Image.fromarray(np.clip(arr + noise, 0, 255).astype(np.uint8))
    return img


def real_world(label: Image.Image, rng: random.Random) -> Image.Image:
    """The label on a product lying on a table: wood-ish background, a body with shading,
    the label slightly turned, a soft shadow and a lamp's glare."""
    w, h = 1000, 760
    base = np.zeros((h, w, 3), dtype=np.float32)
    tone = np.array(
        rng.choice([(150, 110, 75), (120, 120, 125), (180, 170, 150)]), dtype=np.float32
    )
    stripes = (np.sin(np.linspace(0, rng.uniform(20, 40), w))[None, :] * 12).astype(np.float32)
    base[:] = tone
    base += stripes[..., None]
    base += np.random.default_rng(rng.randrange(1 << 30)).normal(0, 6, base.shape)
    bg = Image.fromarray(np.clip(base, 0, 255).astype(np.uint8))
    d = ImageDraw.Draw(bg)
    d.rounded_rectangle((70, 60, 950, 720), 60, fill=(40, 40, 40))  # shadow
    bg = bg.filter(ImageFilter.GaussianBlur(8))
    d = ImageDraw.Draw(bg)
    d.rounded_rectangle(
        (50, 40, 930, 700), 60, fill=rng.choice([(235, 235, 232), (60, 62, 66), (210, 220, 230)])
    )
    scale = min(820 / label.width, 600 / label.height)
    lab = label.resize(
        (int(label.width * scale), int(label.height * scale)), Image.Resampling.LANCZOS
    )
    lab = lab.rotate(rng.uniform(-6, 6), Image.Resampling.BICUBIC, expand=True, fillcolor=(0, 0, 0))
    mask = lab.convert("L").point(lambda v: 255 if v > 0 else 0)
    bg.paste(lab, (490 - lab.width // 2, 370 - lab.height // 2), mask)
    glare = Image.new("L", bg.size, 0)
    gx, gy = rng.randrange(200, 800), rng.randrange(150, 600)
    ImageDraw.Draw(glare).ellipse((gx - 160, gy - 90, gx + 160, gy + 90), fill=70)
    glare = glare.filter(ImageFilter.GaussianBlur(60))
    bg = Image.composite(Image.new("RGB", bg.size, "white"), bg, glare)
    return degrade(bg, ["perspective"], rng)


def save(img: Image.Image, path: Path, quality: int) -> None:
    if max(img.size) > 1000:
        img.thumbnail((1000, 1000), Image.Resampling.LANCZOS)
    img.convert("RGB").save(path, "JPEG", quality=quality, optimize=True)


# --- the set ---------------------------------------------------------------------------------


def ecert_link(cert_no: str) -> str:
    return f"https://cx.cnca.cn/CertECloud/result/skipResultList?certNumber={cert_no}"


def build() -> int:
    m = Maker()
    r = m.rng
    for old in HERE.glob("[0-9][0-9][0-9]-*"):
        old.unlink()
    scenarios = list(SCENARIOS)
    layouts = ["nameplate"] * 30 + ["sticker"] * 14 + ["box"] * 14 + ["listing"] * 10 + \
              ["other"] * 8 + ["real"] * 10 + ["sideways"] * 6  # fmt: skip
    n = 0
    for i, layout in enumerate(layouts):
        n += 1
        product = PRODUCTS[i % len(PRODUCTS)]
        truth: dict[str, Any] = {
            "layout": layout,
            "product": product[0],
            "today": TODAY.isoformat(),
        }
        kinds: list[str] = []
        sideways = layout == "sideways"
        if sideways:
            # A nameplate photographed a quarter turn off (after the others, so their
            # random draws, and so their images, stay as they were).
            layout = truth["layout"] = "nameplate"
            kinds = ["sideways", *r.sample(("blur", "perspective"), r.choice([0, 1]))]
        elif layout != "real" and r.random() < 0.7:
            kinds = r.sample(DEGRADATIONS, r.choice([1, 1, 2]))
        if layout == "other":
            kind = ("food", "drug", "cosmetics")[i % 3]
            img, numbers, ok = other_ids(m, kind)
            truth |= {"scenario": kind, "identifiers": numbers, "identifiers_shape_ok": ok,
                      "cert_no": None, "model": None, "holder": None, "manufacturer": None,
                      "mark": False, "qr": [], "expected": "other_ids", "product": None}  # fmt: skip
        else:
            scenario = scenarios[i % len(scenarios)]
            if layout == "sticker" and scenario == "no_number":
                scenario = "genuine"
            if layout == "sticker" and scenario == "misuse_holder":
                scenario = "misuse_model"  # a sticker names no company
            cert, printed = m.certificate(scenario, product)
            # A label names the holder only sometimes, and only when it differs here.
            if (
                layout in ("sticker", "listing")
                or (printed["holder"] == printed["manufacturer"] and r.random() < 0.5)
                or (layout == "box" and printed["holder"] == printed["manufacturer"])
            ):
                printed["holder"] = ""
            mark = layout == "sticker" or r.random() < 0.6
            qr = None
            if sideways:
                pass  # no QR code: what is read must come from the turned text
            elif layout in ("sticker", "nameplate") and printed["cert_no"] and r.random() < 0.35:
                qr = ecert_link(printed["cert_no"])
            elif layout == "box" and r.random() < 0.3:
                qr = f"https://shop.example.com/item/{r.randrange(10**6, 10**7)}"
            if layout == "nameplate":
                img = nameplate(m, product, printed, mark=mark, qr=qr)
            elif layout == "sticker":
                img = sticker(m, printed, qr=qr)
                printed = {**printed, "manufacturer": ""}
            elif layout == "box":
                img = box_side(m, product, printed, mark=mark, qr=qr)
            elif layout == "listing":
                img, mark, qr = listing(m, product, printed), False, None
            else:
                plate = nameplate(m, product, printed, mark=mark, qr=None)
                img = real_world(plate, r)
                kinds = ["real-world", "perspective"]
            expected = SCENARIOS[scenario]
            if layout == "sticker" and scenario == "wrong_category":
                # A sticker does not name the product: the photo alone cannot show the
                # certificate is for another category (the chat asks what the product is).
                expected = "looks_ok"
            truth |= {
                "scenario": scenario,
                "cert_no": printed["cert_no"] or None,
                "model": printed["model"],
                "holder": printed["holder"] or None,
                "manufacturer": printed["manufacturer"] or None,
                "mark": mark,
                "qr": [qr] if qr else [],
                "qr_cert_no": printed["cert_no"] if qr and "cnca" in qr else None,
                "expected": "listing" if layout == "listing" else expected,
                "expected_listing": (
                    (
                        "looks_ok"
                        if expected == "looks_ok" or scenario.startswith("misuse")
                        else "missing_cert"
                        if scenario == "no_number"
                        else "lapsed"
                        if scenario == "expired"
                        else "problem"
                    )
                    if layout == "listing"
                    else None
                ),  # fmt: skip
                "registry_cert": cert.cert_no,
            }
        truth["degradations"] = kinds
        if sideways:
            turn = r.choice([Image.Transpose.ROTATE_90, Image.Transpose.ROTATE_270])
            img = degrade(img, kinds, r).transpose(turn)
        elif layout != "real":
            img = degrade(img, kinds, r)
        quality = r.randrange(25, 45) if "jpeg" in kinds else 82
        stem = f"{n:03d}-{'sideways' if sideways else layout}"
        save(img, HERE / f"{stem}.jpg", quality)
        truth["file"] = f"{stem}.jpg"
        (HERE / f"{stem}.json").write_text(
            json.dumps(truth, ensure_ascii=False, indent=1) + "\n", encoding="utf-8"
        )
    with (HERE / "registry.csv").open("w", encoding="utf-8", newline="") as fh:
        out = csv.writer(fh)
        out.writerow(COLUMNS)
        for cert in m.registry:
            out.writerow(cert.row())
    return n


if __name__ == "__main__":
    print(f"{build()} labelled photos in {HERE}")  # noqa: T201
