"""Notifications: an in-app inbox for every user, e-mail (SMTP) and DingTalk / WeCom group robots."""
