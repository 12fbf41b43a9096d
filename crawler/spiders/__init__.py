"""Generic spiders, one per kind of source; sources themselves are config records."""
