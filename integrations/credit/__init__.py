"""Business credit records: the 经营异常名录 and 严重违法失信名单 behind a registry port."""
