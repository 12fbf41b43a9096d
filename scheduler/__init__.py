"""Veille's entry points: the CLI, the one-off crawl launcher, the demo, exports."""
