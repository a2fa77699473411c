"""Registry service: the units (使用单位) of the exchange and their directory."""
