"""Veille's crawler: generic Scrapy spiders driven by the sources in the config.

A crawl runs in its own process (``python -m crawler``), launched by the scheduler.
"""
