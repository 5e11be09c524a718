"""The domain: alerts, notifications, jobs and group state, time, text; imports nothing else in relay."""
