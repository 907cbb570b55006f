"""Fictional names: trade names (字号) from a syllable pool, with real names kept out.

Every name in the demo city is made up. Trade names are two or three syllables drawn from a pool of
auspicious characters; pairs that spell a well-known real institution, brand or firm (工商, 平安,
蚂蚁 …) are rejected and redrawn, and the bank names of the national tiers are hand-made. Any
resemblance to a real firm is coincidental.
"""

from __future__ import annotations

import numpy as np

# Characters that read naturally in a Chinese company 字号. No place names of real banks, no 阿/网/蚁/宝.
SYLLABLES: tuple[str, ...] = tuple(
    dict.fromkeys(
        "瀚澜湖临翠岚鼎泽汇禾润泓渊晟昊恒嘉盈睿诚德富春江山云栖溪松竹梅兰桐杉楠枫宸瑞祥康宁和丰达通远宏"
        "图启明辰星曜晖煜熙源清澄湾潮涌浦滨沁涵越舜禹良渚塘苑庭轩峰岭石玉金铭锦绣纬策衡谦益裕隆昌盛兴"
        "旺泰新天元开乾坤众合立致知行博雅正方智慧聚创腾跃驰骏鸿鹏鹤凤麟朗峻崇岳川海洋波蓝青碧翰墨书舟"
        "帆航舒逸悦欣怡乐佳美优尚品卓诺信璟琨瑜璞珩琪钧铂锐镕烨炜炎灿昕昱晨暄曦霖霏雯霁霞露岑崎峦"
        "屹巍嵘崧桦榕樟柏槐楷棠荷莲芷蘅蔚菁茗萱苒芃荣华中东南西北"
    )
)
_INDEX = {c: i for i, c in enumerate(SYLLABLES)}

# Two-character sequences that would spell (part of) a real, well-known name. Checked on every
# adjacent pair of a generated trade name.
_BLOCKED_TEXT = """
工商 农业 建设 交通 招商 浦发 中信 光大 华夏 民生 兴业 平安 广发 浙商
恒丰 渤海 宁波 温州 台州 泰隆 稠州 民泰 杭州 联合 中泰 永安 南华 大地
太平 阳光 新华 中华 泰康 众安 恒生 东方 信达 长城 华融 银河 国泰 华泰
财通 海通 天风 华润 中银 百瑞 万向 传化 吉利 海康 大华 华为 同花 蚂蚁
网商 微众 富春 钱江 西湖 滨江 萧山 余杭 临安 临平 钱塘 上城 拱墅 富阳
桐庐 淳安 建德 中原 华安 安信 兴全 博时 华宝 南方 嘉实 鹏华 易方 汇添
景顺 富国 诺安 中欧 信诚 瑞丰 德清 长江 华创 开源 国金 国元 方正 东吴
东海 西南 北京 南京 上海 天津 江苏 浙江 中国 国开 中华 人寿 合众 昆仑
信泰 利安 华海 浙银 金华 绍兴 湖州 嘉兴 盛京 哈尔 锦州 天安 安邦 前海
海尔 美的 格力 娃哈 宏达 华立 中恒 贝达 恒逸 荣盛 新湖 顺丰 德邦 圆通
中通 申通 韵达 百世
"""
BLOCKED_PAIRS: tuple[str, ...] = tuple(_BLOCKED_TEXT.split())
_BLOCKED_CODES = np.array(
    sorted({_INDEX[a] * len(SYLLABLES) + _INDEX[b] for a, b in BLOCKED_PAIRS if a in _INDEX and b in _INDEX}),
    dtype=np.int64,
)
_POOL = np.array(SYLLABLES)


def _blocked(first: np.ndarray, second: np.ndarray) -> np.ndarray:
    return np.isin(first * len(SYLLABLES) + second, _BLOCKED_CODES)


def draw_trade_codes(rng: np.random.Generator, n: int, three_share: float) -> np.ndarray:
    """(n, 3) syllable indices; the third is -1 for a two-syllable name. No blocked pair, no repeats."""
    codes = np.full((n, 3), -1, dtype=np.int64)
    todo = np.arange(n)
    three = rng.random(n) < three_share
    while todo.size:
        k = todo.size
        draw = rng.integers(0, len(SYLLABLES), size=(k, 3))
        codes[todo] = draw
        codes[todo[~three[todo]], 2] = -1
        c = codes[todo]
        bad = (c[:, 0] == c[:, 1]) | _blocked(c[:, 0], c[:, 1])
        has3 = c[:, 2] >= 0
        bad |= has3 & ((c[:, 2] == c[:, 1]) | _blocked(c[:, 1], np.maximum(c[:, 2], 0)))
        todo = todo[bad]
    return codes


def trade_names(codes: np.ndarray) -> np.ndarray:
    """Trade-name strings for (n, 3) syllable codes."""
    two = np.char.add(_POOL[codes[:, 0]], _POOL[codes[:, 1]])
    third = np.where(codes[:, 2] >= 0, _POOL[np.maximum(codes[:, 2], 0)], "")
    return np.char.add(two, third)


def is_blocked(name: str) -> bool:
    """Whether a name contains a blocked pair (used to screen hand-made names too)."""
    return any(pair in name for pair in BLOCKED_PAIRS)


class NamePicker:
    """Unique fictional trade names for the few thousand institutions (plain Python, deterministic)."""

    def __init__(self, rng: np.random.Generator) -> None:
        self._rng = rng
        self._used: set[str] = set()

    def reserve(self, name: str) -> None:
        self._used.add(name)

    def trade(self, three_share: float = 0.1) -> str:
        """A new two- or three-syllable trade name not used before."""
        while True:
            codes = draw_trade_codes(self._rng, 1, three_share)
            name = str(trade_names(codes)[0])
            if name not in self._used:
                self._used.add(name)
                return name

    def unique(self, make) -> str:
        """Call ``make(trade)`` with fresh trade names until the full name is new."""
        while True:
            full = make(self.trade())
            if full not in self._used:
                self._used.add(full)
                return full


# Hand-made names for the national bank tiers (fictional).
POLICY_BANKS = ("国瀚开发银行", "华禾农村发展银行", "中嘉进出口银行")
LARGE_BANKS = ("中垣银行", "华铸银行", "国衡商业银行", "中禾银行", "华屹银行", "邮泽储蓄银行")
JOINT_STOCK_BANKS = (
    "瀚海银行",
    "恒岳银行",
    "沁源银行",
    "澄江银行",
    "鼎晟银行",
    "昊天银行",
    "泓信银行",
    "启明银行",
    "广瀚银行",
    "润泽银行",
    "晟泰银行",
    "朗峰银行",
    "远帆银行",
    "聚丰银行",
)
CITY_BANK_PLACES = (
    "云溪",
    "鹤汀",
    "青岚",
    "澜州",
    "栖川",
    "越岭",
    "沁州",
    "梧岗",
    "澄州",
    "岑山",
    "枫泾",
    "榕城",
    "松岭",
    "苕川",
    "桐溪",
    "楠川",
    "琪州",
    "璟州",
    "翠屏",
    "霁川",
)
FOREIGN_BANKS = (
    "汇澜国际银行",
    "北岸银行",
    "联邦海湾银行",
    "星港银行",
    "圣约翰商业银行",
    "莱茵商业银行",
    "枫叶国民银行",
    "南岬信托银行",
    "大洋洲商业银行",
    "海峡银行",
    "阿尔卑斯银行",
    "维京银行",
    "太阳岛银行",
    "帝国湾银行",
)

ROAD_SUFFIX = ("路", "街", "大道")
