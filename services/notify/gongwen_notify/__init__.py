"""Notify service: reminders, escalation and SMS (短信提醒)."""
