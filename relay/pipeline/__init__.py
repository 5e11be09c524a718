"""The pipeline stages in order: routing, time gates, grouping, hold, flush, dispatch,
rate limits, storm merging."""
