"""The exchange service's rules (公文交换), plain Python: deadlines (``deadlines``)."""
