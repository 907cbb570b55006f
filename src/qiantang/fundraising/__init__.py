"""Illegal-fundraising monitoring (非法集资监测预警): watched firms, signals, index, tips, routing."""
