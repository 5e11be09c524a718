"""The operator console: its JSON API (api, queries) and its pages under /ui/."""
