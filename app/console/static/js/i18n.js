// The console's words, Simplified Chinese first (the programme's operators), English second.
// A missing key shows itself, so a test sees it.
const WORDS = {
  zh: {
    title: "运营后台", signIn: "登录", name: "用户名", password: "密码", signOut: "退出",
    overview: "概览", members: "会员", rules: "积分规则", language: "English",
    wrongCredentials: "用户名或密码错误", throttled: "尝试次数过多，请稍后再试",
    issued: "发放积分", redeemed: "消耗积分", expired: "过期积分", outstanding: "积分余额",
    liability: "积分负债 (元)", membersCount: "会员数", activeMembers: "活跃会员",
    consumptionRate: "积分消耗率", last30: "近 30 天", flowsChart: "积分发放 / 消耗 / 过期",
    tiersChart: "会员等级分布", channelsChart: "发放来源", liveBoard: "实时积分榜", liveFeed: "实时动态",
    search: "查询", memberId: "会员 ID", channel: "渠道", externalRef: "渠道账号",
    notFound: "未找到会员", profile: "资料", balance: "积分", available: "可用", pending: "待生效",
    held: "冻结中", total: "合计", lots: "积分批次（按到期顺序）", expiresAt: "到期", remaining: "剩余",
    history: "积分明细", kind: "类型", amount: "积分", reason: "原因", actor: "操作人", at: "时间",
    breakdown: "规则明细", tierHistory: "等级变化", holds: "冻结", adjust: "调整积分",
    adjustAmount: "调整数量（负数为扣减）", submit: "提交", freeze: "冻结账户", unfreeze: "解冻账户",
    status: "状态", done: "已完成", tier: "等级", phone: "手机", rank: "排名", points: "积分",
    ruleName: "规则名称", trigger: "触发", effect: "计算方式", priority: "优先级", enabled: "启用",
    version: "版本", edit: "编辑", save: "保存", preview: "预览", basket: "购物篮", newRule: "新建规则",
    spec: "规则定义 (JSON)", versions: "版本历史", previewResult: "预览结果", saved: "已保存",
    "event.points.earned": "获得积分", "event.points.spent": "使用积分", "event.points.adjusted": "积分调整",
    "event.points.expired": "积分过期", "event.points.reversed": "积分冲正", "event.member.registered": "新会员注册",
    "event.member.status_changed": "账户状态变更", "event.hold.created": "积分冻结", "event.hold.committed": "冻结扣减",
    "event.hold.voided": "冻结释放", "event.tier.changed": "等级变化", "event.signin.checked_in": "签到",
    "event.redemption.placed": "积分兑换下单", "event.redemption.fulfilled": "兑换完成", "event.lottery.drawn": "抽奖",
    "event.task.completed": "完成任务", "event.points.gift_sent": "转赠积分", "event.points.available": "积分生效",
    label: "名称", tiers: "会员等级", engagement: "签到与任务", mall: "积分商城", jobs: "定时任务", webhooks: "Webhook", alerts: "告警",
    code: "代码", threshold: "门槛", multiplier: "倍率", benefits: "权益", signInSchedules: "签到奖励规则",
    cycleDays: "周期天数", basePoints: "基础积分", active: "启用中", inactive: "未启用", day: "第几天", bonus: "额外奖励",
    gifts: "礼品", lotteryDraws: "抽奖次数", tasks: "任务", challenges: "挑战赛排行", target: "目标", period: "周期",
    reward: "奖励", progress: "进度", items: "商品与库存", flashSales: "限时秒杀", lotteries: "抽奖（奖品与概率）",
    orders: "兑换订单", allStates: "全部状态", member: "会员", price: "积分价", stock: "库存", saleWindow: "售卖时间", prize: "奖品", weight: "权重", odds: "概率",
    order: "订单", item: "商品", schedule: "计划", lastRun: "上次运行", runNow: "立即运行", allChannels: "全部渠道",
    failingSince: "失败始于", event: "事件", attempts: "尝试次数", deliveredAt: "送达时间", resend: "重新发送",
    resent: "已重新发送", noAlerts: "暂无告警",
    "alert.alert.redemption_surge": "兑换激增", "alert.alert.member_over_earning": "会员积分异常",
    "alert.alert.credential_failures": "凭证失败激增", "alert.alert.budget_nearly_spent": "预算即将用尽",
    forbidden: "当前角色无此权限", role: "角色", readOnly: "只读（分析员）", sku: "商品", category: "品类",
    quantity: "数量", lineAmount: "金额", noRules: "无规则", balanceAfter: "余额",
    previewDraft: "草稿预览 · 未保存", previewSaved: "已保存的规则",
    draftHint: "编辑时“预览”按此草稿计算（不保存）；保存后生成新版本。",
  },
  en: {
    title: "Console", signIn: "Sign in", name: "Name", password: "Password", signOut: "Sign out",
    overview: "Overview", members: "Members", rules: "Earning rules", language: "中文",
    wrongCredentials: "Wrong name or password", throttled: "Too many attempts; try again later",
    issued: "Issued", redeemed: "Redeemed", expired: "Expired", outstanding: "Outstanding",
    liability: "Liability (CNY)", membersCount: "Members", activeMembers: "Active members",
    consumptionRate: "Consumption rate", last30: "Last 30 days", flowsChart: "Issued / redeemed / expired",
    tiersChart: "Members by tier", channelsChart: "Issued by source", liveBoard: "Live board", liveFeed: "Live feed",
    search: "Search", memberId: "Member id", channel: "Channel", externalRef: "Channel ref",
    notFound: "No such member", profile: "Profile", balance: "Balance", available: "Available",
    pending: "Pending", held: "Held", total: "Total", lots: "Lots (spending order)", expiresAt: "Expires",
    remaining: "Remaining", history: "History", kind: "Kind", amount: "Points", reason: "Reason",
    actor: "By", at: "At", breakdown: "Rule breakdown", tierHistory: "Tier history", holds: "Holds",
    adjust: "Adjust points", adjustAmount: "Amount (negative debits)", submit: "Submit",
    freeze: "Freeze", unfreeze: "Unfreeze", status: "Status", done: "Done", tier: "Tier", phone: "Phone",
    rank: "Rank", points: "Points", ruleName: "Rule", trigger: "Trigger", effect: "Effect",
    priority: "Priority", enabled: "Enabled", version: "Version", edit: "Edit", save: "Save",
    preview: "Preview", basket: "Basket", newRule: "New rule", spec: "Rule (JSON)", versions: "Versions",
    previewResult: "Preview", saved: "Saved", forbidden: "Your role may not do this", role: "Role",
    readOnly: "Read only (analyst)", sku: "SKU", category: "Category", quantity: "Qty",
    lineAmount: "Amount", noRules: "No rules", balanceAfter: "Balance after",
    previewDraft: "Draft (unsaved)", previewSaved: "Rules as saved",
    label: "Name", tiers: "Tiers", engagement: "Sign-in & tasks", mall: "Mall", jobs: "Jobs", webhooks: "Webhooks", alerts: "Alerts",
    code: "Code", threshold: "Threshold", multiplier: "Multiplier", benefits: "Benefits", signInSchedules: "Sign-in schedules",
    cycleDays: "Cycle days", basePoints: "Base points", active: "Active", inactive: "Inactive", day: "Day", bonus: "Bonus",
    gifts: "Gifts", lotteryDraws: "Draws", tasks: "Tasks", challenges: "Challenge boards", target: "Target", period: "Period",
    reward: "Reward", progress: "Progress", items: "Items and stock", flashSales: "Flash sales", lotteries: "Lotteries (prizes and odds)",
    orders: "Orders", allStates: "All states", member: "Member", price: "Points", stock: "Stock", saleWindow: "On sale", prize: "Prize", weight: "Weight", odds: "Odds",
    order: "Order", item: "Item", schedule: "Schedule", lastRun: "Last run", runNow: "Run now", allChannels: "all channels",
    failingSince: "failing since", event: "Event", attempts: "Attempts", deliveredAt: "Delivered", resend: "Resend",
    resent: "Sent again", noAlerts: "No alerts",
    "alert.alert.redemption_surge": "redemption surge", "alert.alert.member_over_earning": "member over-earning",
    "alert.alert.credential_failures": "credential failures", "alert.alert.budget_nearly_spent": "budget nearly spent",
    "event.points.earned": "earned", "event.points.spent": "spent", "event.points.adjusted": "adjusted",
    "event.points.expired": "expired", "event.points.reversed": "reversed", "event.member.registered": "registered",
    "event.member.status_changed": "status changed", "event.hold.created": "hold", "event.hold.committed": "hold committed",
    "event.hold.voided": "hold voided", "event.tier.changed": "tier changed", "event.signin.checked_in": "signed in",
    "event.redemption.placed": "redemption placed", "event.redemption.fulfilled": "redemption fulfilled",
    "event.lottery.drawn": "lottery draw", "event.task.completed": "task completed", "event.points.gift_sent": "gift sent",
    "event.points.available": "points available",
    draftHint: "While editing, Preview runs this draft (nothing saved); Save makes a new version.",
  },
};

let lang = localStorage.getItem("jifen.lang") === "en" ? "en" : "zh";

// `fallback`: for keys made from data (an event's type) that may have no words yet.
export function t(key, fallback) {
  return WORDS[lang][key] ?? fallback ?? `⟦${key}⟧`;
}

export function language() {
  return lang;
}

export function toggleLanguage() {
  lang = lang === "zh" ? "en" : "zh";
  localStorage.setItem("jifen.lang", lang);
  document.documentElement.lang = lang === "zh" ? "zh-CN" : "en";
}
