"""Distributed crawling: a shared Redis frontier, crawl workers, global politeness."""
