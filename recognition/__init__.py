"""recognition: TimeSformer with PAAB/PAAT for action recognition and retrieval (see README)."""
