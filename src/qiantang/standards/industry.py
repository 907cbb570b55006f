"""GB/T 4754-2017 国民经济行业分类: the 20 门类 (sections) and 97 大类 (divisions).

Facts: docs/reference/standards.md §7. Codes: 门类 = 1 letter, 大类 = 2 digits, 中类 = 3, 小类 = 4.
Only sections and divisions are encoded; 3- and 4-digit codes are checked by their division alone.
Do not mix with GB/T 4754-2011, which numbered S as 90–95 and T as 96.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass


@dataclass(frozen=True)
class IndustrySection:
    """One 门类 and the inclusive range of its two-digit 大类."""

    code: str
    name_zh: str
    name_en: str
    first_division: int
    last_division: int

    def covers(self, division: int) -> bool:
        """Whether the two-digit division belongs to this section."""
        return self.first_division <= division <= self.last_division


# Names ✅. Division ranges: A–D ✅ in the reference; E–T are ❓ there but are those of the 2017 edition
# (they agree with DIVISIONS below). English names are descriptive translations for the English UI.
SECTIONS: tuple[IndustrySection, ...] = (
    IndustrySection("A", "农、林、牧、渔业", "Agriculture, forestry, animal husbandry and fishery", 1, 5),
    IndustrySection("B", "采矿业", "Mining", 6, 12),
    IndustrySection("C", "制造业", "Manufacturing", 13, 43),
    IndustrySection(
        "D",
        "电力、热力、燃气及水生产和供应业",
        "Electricity, heat, gas and water production and supply",
        44,
        46,
    ),
    IndustrySection("E", "建筑业", "Construction", 47, 50),
    IndustrySection("F", "批发和零售业", "Wholesale and retail trade", 51, 52),
    IndustrySection("G", "交通运输、仓储和邮政业", "Transport, storage and postal services", 53, 60),
    IndustrySection("H", "住宿和餐饮业", "Accommodation and catering", 61, 62),
    IndustrySection(
        "I", "信息传输、软件和信息技术服务业", "Information transmission, software and IT services", 63, 65
    ),
    IndustrySection("J", "金融业", "Finance", 66, 69),
    IndustrySection("K", "房地产业", "Real estate", 70, 70),
    IndustrySection("L", "租赁和商务服务业", "Leasing and business services", 71, 72),
    IndustrySection("M", "科学研究和技术服务业", "Scientific research and technical services", 73, 75),
    IndustrySection(
        "N",
        "水利、环境和公共设施管理业",
        "Water conservancy, environment and public facilities management",
        76,
        79,
    ),
    IndustrySection(
        "O", "居民服务、修理和其他服务业", "Resident services, repair and other services", 80, 82
    ),
    IndustrySection("P", "教育", "Education", 83, 83),
    IndustrySection("Q", "卫生和社会工作", "Health and social work", 84, 85),
    IndustrySection("R", "文化、体育和娱乐业", "Culture, sports and entertainment", 86, 90),
    IndustrySection(
        "S",
        "公共管理、社会保障和社会组织",
        "Public administration, social security and social organisations",
        91,
        96,
    ),
    IndustrySection("T", "国际组织", "International organisations", 97, 97),
)

# Names from GB/T 4754-2017, not checked against the printed text in this repository's reference (❓).
DIVISIONS: dict[str, str] = {
    "01": "农业",
    "02": "林业",
    "03": "畜牧业",
    "04": "渔业",
    "05": "农、林、牧、渔专业及辅助性活动",
    "06": "煤炭开采和洗选业",
    "07": "石油和天然气开采业",
    "08": "黑色金属矿采选业",
    "09": "有色金属矿采选业",
    "10": "非金属矿采选业",
    "11": "开采专业及辅助性活动",
    "12": "其他采矿业",
    "13": "农副食品加工业",
    "14": "食品制造业",
    "15": "酒、饮料和精制茶制造业",
    "16": "烟草制品业",
    "17": "纺织业",
    "18": "纺织服装、服饰业",
    "19": "皮革、毛皮、羽毛及其制品和制鞋业",
    "20": "木材加工和木、竹、藤、棕、草制品业",
    "21": "家具制造业",
    "22": "造纸和纸制品业",
    "23": "印刷和记录媒介复制业",
    "24": "文教、工美、体育和娱乐用品制造业",
    "25": "石油、煤炭及其他燃料加工业",
    "26": "化学原料和化学制品制造业",
    "27": "医药制造业",
    "28": "化学纤维制造业",
    "29": "橡胶和塑料制品业",
    "30": "非金属矿物制品业",
    "31": "黑色金属冶炼和压延加工业",
    "32": "有色金属冶炼和压延加工业",
    "33": "金属制品业",
    "34": "通用设备制造业",
    "35": "专用设备制造业",
    "36": "汽车制造业",
    "37": "铁路、船舶、航空航天和其他运输设备制造业",
    "38": "电气机械和器材制造业",
    "39": "计算机、通信和其他电子设备制造业",
    "40": "仪器仪表制造业",
    "41": "其他制造业",
    "42": "废弃资源综合利用业",
    "43": "金属制品、机械和设备修理业",
    "44": "电力、热力生产和供应业",
    "45": "燃气生产和供应业",
    "46": "水的生产和供应业",
    "47": "房屋建筑业",
    "48": "土木工程建筑业",
    "49": "建筑安装业",
    "50": "建筑装饰、装修和其他建筑业",
    "51": "批发业",
    "52": "零售业",
    "53": "铁路运输业",
    "54": "道路运输业",
    "55": "水上运输业",
    "56": "航空运输业",
    "57": "管道运输业",
    "58": "多式联运和运输代理业",
    "59": "装卸搬运和仓储业",
    "60": "邮政业",
    "61": "住宿业",
    "62": "餐饮业",
    "63": "电信、广播电视和卫星传输服务",
    "64": "互联网和相关服务",
    "65": "软件和信息技术服务业",
    "66": "货币金融服务",
    "67": "资本市场服务",
    "68": "保险业",
    "69": "其他金融业",
    "70": "房地产业",
    "71": "租赁业",
    "72": "商务服务业",
    "73": "研究和试验发展",
    "74": "专业技术服务业",
    "75": "科技推广和应用服务业",
    "76": "水利管理业",
    "77": "生态保护和环境治理业",
    "78": "公共设施管理业",
    "79": "土地管理业",
    "80": "居民服务业",
    "81": "机动车、电子产品和日用产品修理业",
    "82": "其他服务业",
    "83": "教育",
    "84": "卫生",
    "85": "社会工作",
    "86": "新闻和出版业",
    "87": "广播、电视、电影和录音制作业",
    "88": "文化艺术业",
    "89": "体育",
    "90": "娱乐业",
    "91": "中国共产党机关",
    "92": "国家机构",
    "93": "人民政协、民主党派",
    "94": "社会保障",
    "95": "群众团体、社会团体和其他成员组织",
    "96": "基层群众自治组织及其他组织",
    "97": "国际组织",
}

_SECTION_BY_CODE = {s.code: s for s in SECTIONS}
# An optional section letter, then 2–4 digits (大类/中类/小类); or a section letter alone.
_CODE_PATTERN = re.compile(r"(?P<letter>[A-Z])?(?P<digits>\d{2,4})?")


def _parse(code: str) -> tuple[str | None, str | None]:
    """Split a code into (letter, digits); ValueError if it has neither or has other characters."""
    cleaned = unicodedata.normalize("NFKC", code).strip().upper()
    match = _CODE_PATTERN.fullmatch(cleaned)
    if not cleaned or match is None or (match["letter"] is None and match["digits"] is None):
        raise ValueError(f"行业代码格式不正确：“{code}”（应为门类字母和/或 2–4 位数字，如 C、39、C3911）")
    return match["letter"], match["digits"]


def _section_of_division(division: str, original: str) -> IndustrySection:
    """The section covering a two-digit division; ValueError if the division does not exist."""
    if division not in DIVISIONS:
        raise ValueError(f"行业代码“{original}”的大类 {division} 不存在（GB/T 4754-2017 大类为 01–97）")
    return next(s for s in SECTIONS if s.covers(int(division)))


def section_of(code: str) -> IndustrySection:
    """The 门类 of "C", "39", "391", "3911" or "C3911" (a given letter must agree with the digits)."""
    letter, digits = _parse(code)
    if digits is None:
        if letter not in _SECTION_BY_CODE:
            raise ValueError(f"行业门类“{letter}”不存在（GB/T 4754-2017 门类为 A–T）")
        return _SECTION_BY_CODE[letter]
    section = _section_of_division(digits[:2], code)
    if letter is not None and letter != section.code:
        raise ValueError(
            f"行业代码“{code}”的门类字母 {letter} 与数字不符：大类 {digits[:2]} 属于门类 {section.code}"
        )
    return section


def section_name(section: str, *, zh: bool = True) -> str | None:
    """The 门类's name for its letter ("C" → "制造业" / "Manufacturing"), None for an unknown letter."""
    found = _SECTION_BY_CODE.get(section)
    return None if found is None else (found.name_zh if zh else found.name_en)


def industry_label(section: str | None, code: str | None, *, zh: bool = True) -> str:
    """An enterprise's industry for people: "F52 零售业" (the 大类's name, or the 门类's if no code)."""
    section = section or ""
    digits = (code or "")[:2]
    if zh and digits in DIVISIONS:
        return f"{section}{code} {DIVISIONS[digits]}"
    found = _SECTION_BY_CODE.get(section)
    if found is None:
        return f"{section}{code or ''}" or "—"
    return f"{section}{code or ''} {found.name_zh if zh else found.name_en}"


def normalise_industry_code(code: str) -> str:
    """The digits of a validated code ("C3911" → "3911"), or the section letter if only a letter was given."""
    section = section_of(code)
    _letter, digits = _parse(code)
    return digits if digits is not None else section.code
