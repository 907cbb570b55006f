"""Illegal-fundraising monitoring (非法集资监测预警): signals, index, tips and routing."""
