"""Write the first version of the fundraising keyword dictionary (fundraising/data/keywords.csv).

The dictionary is data: after this first version it is edited as a CSV (one term a line, its class
and an optional weight) and its version in keywords.toml changes with every edit. This script only
records how version 1 was put together: hand-picked base phrases per class — the wording that the
处非 publicity material and court judgments quote from fundraising advertisements (承诺还本付息、
高额回报、原始股、养老投资 …, the features of 《防范和处置非法集资条例》 Art. 2) — and, for the
classes whose phrases vary in a regular way, their combinations (周期 × 收益的说法; 承诺的说法 × 保本).

Run: python scripts/fundraising_keywords.py
"""

from __future__ import annotations

import csv
from itertools import product
from pathlib import Path

OUT = Path(__file__).resolve().parents[1] / "src/qiantang/fundraising/data/keywords.csv"

BASE: dict[str, str] = {
    "high_yield": (
        "高息 高利 高收益 高回报 高额回报 高额收益 高额利息 超高收益 超高回报 收益翻倍 资金翻倍 翻番 "
        "利滚利 复利滚存 月月返息 按月返息 按月付息 按季付息 每月分红 周周分红 日日返利 天天返利 "
        "静态收益 动态收益 固定收益 固定回报 定期返息 返本付息 高息揽储 高息借款 高息理财 "
        "年化收益 年化收益率 年化回报 年化回报率 年化利率 年化 月息 日息 周息 月利率 日利率 "
        "收益率 回报率 预期收益 预期年化 保底年化 分红收益 额外奖励 加息券 加息 红包奖励 投资返现 "
        "收益可观 收益丰厚 回报丰厚 丰厚回报 利息丰厚 一年回本 半年回本 三个月回本 快速回本 当月回本"
    ),
    "guaranteed": (
        "保本 保息 保本保息 保本付息 保本高息 还本付息 承诺还本 到期还本 到期返本 本息保障 本金保障 "
        "本金安全 本息安全 零风险 无风险 没有风险 风险为零 百分百兑付 刚性兑付 刚兑 兜底 兜底回购 "
        "回购承诺 担保回购 保底 保底收益 保底回报 保证收益 保证本金 保证回报 确保收益 确保本金 "
        "银行担保 政府担保 国资担保 第三方担保 全额担保 本息担保 风险准备金 风险保障金 先行赔付 "
        "随时退本 随时赎回 无条件退款 不满意退款 包赔 包退 包收益 旱涝保收 安全可靠 稳定收益 稳定回报 "
        "收益稳定 本金无忧 资金安全有保障 资金由银行监管 银行托管 央企担保 国企背景 国资背景"
    ),
    "sure_win": (
        "稳赚不赔 稳赚 稳赚钱 只赚不赔 包赚不赔 一本万利 躺赚 躺着赚钱 躺赢 坐享收益 坐享其成 坐等收益 "
        "轻松赚钱 轻松致富 一夜暴富 快速致富 暴富 暴利 财富自由 财务自由 月入过万 月入十万 年入百万 "
        "日赚千元 零投入 小投入大回报 投一赚十 以小博大 躺着收钱 睡后收入 稳稳赚 闭眼投 无脑投 "
        "不赚退款 只涨不跌 永不亏损 绝不亏本 稳赢 必赚 必涨 包赚 闭眼赚 钱生钱 财富倍增 资产倍增"
    ),
    "original_shares": (
        "原始股 原始股权 原始股份 认购原始股 上市前认购 即将上市 马上上市 准备上市 海外上市 境外上市 "
        "美国上市 香港上市 纳斯达克上市 挂牌上市 新三板挂牌 区域股权挂牌 股权投资 股权认购 股权众筹 "
        "内部认购 内部股 内部价 员工持股 股权激励 期权认购 股权转让 上市后翻倍 上市套现 上市分红 "
        "上市公司股权 拟上市 上市在即 股权增值 股票期权 配售 认筹 认购额度 私募股权 投资入股 入股分红"
    ),
    "pension": (
        "养老投资 养老理财 养老公寓 养老床位 养老基地 养老项目 以房养老 候鸟式养老 旅居养老 "
        "养老服务预付 养老会员 养老会员卡 养老预付卡 养老消费 养老保险理财 老年理财 "
        "康养项目 康养基地 健康养老 医养结合项目 养生项目 保健品 免费体检 免费旅游 免费领取 "
        "免费讲座 健康讲座 老年大学 入住权 床位认购 床位费返还 养老产业投资 养老床位租赁 "
        "老人专享 银发理财 长寿基金 晚年保障 养老钱 退休金理财 以房抵押 房产抵押理财"
    ),
    "crypto": (
        "虚拟币 虚拟货币 数字货币 加密货币 数字资产 区块链 区块链项目 挖矿 矿机 矿池 算力 云算力 云挖矿 "
        "空气币 代币 通证 发币 私募币 币圈 炒币 比特币 以太坊 泰达币 稳定币 交易所币 平台币 "
        "元宇宙 数字藏品 链游 公链 主网上线 空投 糖果 分叉币 数字人民币兑换 央行数字货币 "
        "去中心化金融 流动性挖矿 质押挖矿 持币生息 持币分红 锁仓 锁仓收益 币本位 币币交易 "
        "虚拟资产 积分币 游戏币理财 数字黄金"
    ),
    "pyramid": (
        "拉人头 发展下线 下线 推荐奖 推荐奖励 直推奖 见点奖 层级奖 层级奖励 团队奖 团队奖励 对碰奖 "
        "级差奖 管理奖 市场补贴 动态奖励 静态奖励 消费返利 消费全返 全额返还 积分返现 购物返现 "
        "消费增值 消费养老 消费致富 零元购 免费购 返利模式 返利平台 会员返利 分销返利 代理返利 "
        "入会费 会员费 升级会员 排单 排队返利 出局 复投 公排 滑落 太阳线 双轨制 三三制 互助盘 "
        "资金盘 拆分盘 众筹盘 传销 直销理财 人人都是股东 人人当老板"
    ),
    "fake_project": (
        "影视投资 影视众筹 扶贫项目 国家项目 国家扶持 政府背书 政府支持项目 央企合作 国企合作 "
        "内部指标 特殊指标 投资移民 林权投资 林业项目 生态农业投资 种植项目 养殖项目 认养 认筹 "
        "产权式商铺 售后返租 售后包租 返租 以租代售 带租约销售 商铺返租 酒店式公寓返租 "
        "海外项目 境外项目 跨境投资 外汇理财 外汇保证金 黄金理财 白银投资 邮币卡 艺术品份额 "
        "文交所 文化产权 收藏品投资 古玩投资 红木投资 玉石投资 普洱茶投资 白酒投资 "
        "新能源项目 光伏投资 充电桩投资 共享经济投资 共享单车投资 健康产业投资 "
        "民族资产解冻 扶贫基金 慈善基金 公益众筹 爱心互助 互助基金 资金互助 合作社入股 合作社吸储"
    ),
    "p2p": (
        "网贷 网络借贷 理财平台 投资理财 理财产品 理财计划 理财项目 出借 出借人 债权转让 债权投资 "
        "标的 散标 资金池 资产包 供应链金融 车贷理财 房贷理财 消费金融理财 借贷撮合 信息中介 "
        "投资返利 投资分红 投资项目 投资门槛低 起投 百元起投 千元起投 万元起投 随存随取 活期理财 "
        "定期理财 定投 复投奖励 首投奖励 新手标 体验金 注册送 注册送红包"
    ),
    "private_fund": (
        "私募基金 私募 私募产品 私募理财 基金份额 基金产品 有限合伙 合伙份额 份额转让 收益权转让 "
        "资产管理计划 资管计划 信托计划 信托产品 定向融资 定融 政信 城投定融 地方债 债权计划 "
        "财富中心 理财中心 家族信托 私人银行 高端理财 "
        "基金募集 对外募集 向社会募集 公开募集 集资 募资 筹资 吸收资金 吸收存款 吸储"
    ),
    "publicity": (
        "限时 限时抢购 名额有限 先到先得 最后机会 错过再等 机不可失 仅剩 抢购 秒杀 火爆认购 "
        "全民投资 人人可投 老少皆宜 亲朋好友 介绍亲友 口口相传 推荐亲友 社区讲座 免费礼品 领鸡蛋 "
        "送礼品 送米面油 答谢会 推介会 路演 招商会 投资说明会 考察参观 免费旅游考察"
    ),
}

# Regular variants: 周期 × 说法 (高息) and 承诺 × 保本 (保本保息), 虚拟币 × 动作.
PERIODS = ["年化", "每年", "每月", "月", "每周", "周", "每日", "日", "每天", "天", "季度", "每季度"]
YIELD_WORDS = ["收益", "回报", "利息", "返息", "返利", "分红", "收益率", "回报率", "利率", "息"]
PROMISES = ["承诺", "保证", "确保", "绝对", "百分百", "完全", "一律", "全部"]
GUARANTEES = ["保本", "保息", "还本", "兑付", "回购", "赔付", "退本", "收益"]
COINS = ["比特币", "以太坊", "虚拟币", "数字货币", "代币", "平台币", "通证", "矿机"]
COIN_ACTIONS = ["投资", "理财", "挖矿", "认购", "私募", "众筹", "增值", "分红", "生息"]
SHARES = ["原始股", "股权", "期权", "股份"]
SHARE_ACTIONS = ["认购", "投资", "众筹", "转让", "分红", "增值", "翻倍"]
PENSION_OBJECTS = ["养老", "康养", "旅居", "候鸟", "医养"]
PENSION_ACTIONS = "投资 理财 项目 会员 基金 公寓 床位 入股 预付"
PENSION_ACTIONS_LIST = PENSION_ACTIONS.split()
PROJECTS = [
    "影视",
    "扶贫",
    "林业",
    "农业",
    "光伏",
    "充电桩",
    "白酒",
    "普洱茶",
    "艺术品",
    "红木",
    "黄金",
    "外汇",
    "养殖",
    "种植",
    "新能源",
]


def terms() -> list[tuple[str, str]]:
    rows: dict[str, str] = {}
    for cls, text in BASE.items():
        for t in text.split():
            rows.setdefault(t, cls)
    for p, y in product(PERIODS, YIELD_WORDS):
        rows.setdefault(p + y, "high_yield")
    for a, b in product(("高", "超高", "高额", "丰厚", "稳定", "固定"), YIELD_WORDS):
        rows.setdefault(a + b, "high_yield" if a != "稳定" and a != "固定" else "guaranteed")
    for p, g in product(PROMISES, GUARANTEES):
        rows.setdefault(p + g, "guaranteed")
    for c, a in product(COINS, COIN_ACTIONS):
        rows.setdefault(c + a, "crypto")
    for s, a in product(SHARES, SHARE_ACTIONS):
        rows.setdefault(s + a, "original_shares")
    for o, a in product(PENSION_OBJECTS, PENSION_ACTIONS_LIST):
        rows.setdefault(o + a, "pension")
    for a, b in product(
        ["推荐", "直推", "团队", "层级", "见点", "管理", "分享", "拉新", "邀请"],
        ["奖", "奖励", "奖金", "收益", "分红"],
    ):
        rows.setdefault(a + b, "pyramid")
    for a, b in product(PROJECTS, ["投资", "众筹", "项目", "理财", "基金", "认购"]):
        rows.setdefault(a + b, "fake_project")
    for a, b in product(["百元", "千元", "万元", "一元", "十元"], ["起投", "起购"]):
        rows.setdefault(a + b, "p2p")
    for a, b in product(
        ["私募", "基金", "信托", "资管", "定融", "政信"], ["产品", "计划", "理财", "份额", "募集", "认购"]
    ):
        rows.setdefault(a + b, "private_fund")
    return sorted(rows.items(), key=lambda kv: (kv[1], kv[0]))


# Names of lawful business lines (投资咨询、资产管理 …) are not terms: they describe what a firm is
# registered for, which the licence dimension already reads from its name and scope.
# Words that describe a yield without promising anything: they count, with a low weight.
DESCRIPTIVE = {
    "年化",
    "年化收益",
    "年化收益率",
    "收益率",
    "回报率",
    "预期收益",
    "预期年化",
    "年化利率",
    "年化回报",
    "年化回报率",
    "利率",
    "年利率",
    "年收益",
    "年回报",
    "年收益率",
    "年回报率",
    "年利息",
    "年息",
}


def main() -> None:
    rows = terms()
    with OUT.open("w", encoding="utf-8", newline="") as fh:
        w = csv.writer(fh, lineterminator="\n")
        w.writerow(["term", "class", "weight"])
        for term, cls in rows:
            w.writerow([term, cls, "0.3" if term in DESCRIPTIVE else ""])
    print(f"{len(rows)} terms → {OUT}")


if __name__ == "__main__":
    main()
